import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetProtocol
import PeernetStore
import PeernetSupport
import Synchronization
@testable import PeernetWebAPI
import TestSupport
import XCTest

/// A multipart/form-data body as browsers and Go's mime/multipart write it.
func multipart(_ fields: [(name: String, filename: String?, data: Data)]) -> (body: Data, contentType: String) {
    let boundary = "----peernet\(UUID().uuidString.prefix(12))"
    var body = Data()
    for f in fields {
        body.append(Data("--\(boundary)\r\n".utf8))
        let file = f.filename.map { "; filename=\"\($0)\"" } ?? ""
        body.append(Data("Content-Disposition: form-data; name=\"\(f.name)\"\(file)\r\n".utf8))
        if f.filename != nil { body.append(Data("Content-Type: application/octet-stream\r\n".utf8)) }
        body.append(Data("\r\n".utf8))
        body.append(f.data)
        body.append(Data("\r\n".utf8))
    }
    body.append(Data("--\(boundary)--\r\n".utf8))
    return (body, "multipart/form-data; boundary=\(boundary)")
}

func postJSON(_ url: String, _ value: Any) async throws -> (status: Int, headers: [String: String], body: Data) {
    try await http(url, method: "POST", headers: ["Content-Type": "application/json"], body: try JSONSerialization.data(withJSONObject: value))
}

final class WebAPISharingTests: XCTestCase {
    /// The reference's way of sharing (upload into the warehouse, then add a record naming the
    /// hash) works unchanged, and goes through the share folder: a file added by the API is a
    /// file in `me/`, one copied into the folder is listed by the API, and update and delete
    /// act on the folder (issue 17, "one engine behind every front end").
    func testUploadAddUpdateDeleteGoThroughTheShareFolder() async throws {
        let a = try APIPeer()
        try await a.serve()
        let share = a.runtime.publisher.folder.path
        let data = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) })
        let hash = Hash256.blake3([UInt8](data))

        // Upload, tracked by ID.
        let tracked = object(try await http("\(a.base)/warehouse/create/uploadID").body)
        let uploadID = try XCTUnwrap(tracked["id"] as? String)
        XCTAssertEqual(Set(tracked.keys), ["apistatus", "id", "uploadstatus", "progress"])
        let form = multipart([("id", nil, Data(uploadID.utf8)), ("File", "report.pdf", data)])
        let created = try await http("\(a.base)/warehouse/create", method: "POST", headers: ["Content-Type": form.contentType], body: form.body)
        let result = object(created.body)
        XCTAssertEqual(result["status"] as? Int, 0)
        XCTAssertEqual(result["hash"] as? String, Data(hash.bytes).base64EncodedString(), "the content's BLAKE3 hash, base64 as Go writes []byte")
        let progress = object(try await http("\(a.base)/warehouse/create/track/uploadID?id=\(uploadID)").body)["progress"] as? [String: Any]
        XCTAssertEqual(progress?["uploadedsize"] as? Int, data.count)
        XCTAssertEqual(progress?["percentage"] as? Double, 100)
        XCTAssertTrue(a.runtime.store.warehouse.contains(hash))
        let part = try await http("\(a.base)/warehouse/read?hash=\(hash.hex)", headers: ["Range": "bytes=100-199"])
        XCTAssertEqual(part.status, 206)
        XCTAssertEqual(part.body, data[100..<200])
        let limited = try await http("\(a.base)/warehouse/read?hash=\(hash.hex)&offset=299990&limit=100")
        XCTAssertEqual(limited.body, data.suffix(10), "a limit past the end is cut, as the reference's")
        let noForm = try await http("\(a.base)/warehouse/create", method: "POST", body: Data("raw".utf8))
        XCTAssertEqual(String(decoding: noForm.body, as: UTF8.self), "{}\n", "the reference's error body")

        // Add: the file appears in the share folder, under its folder, with its ID.
        let id = UUID().uuidString.lowercased()
        let b64 = Data(hash.bytes).base64EncodedString()
        let added = object(try await postJSON("\(a.base)/blockchain/file/add",
            ["files": [["id": id, "hash": b64, "name": "report.pdf", "folder": "docs/2026", "description": "yearly"]]]).body)
        XCTAssertEqual(added["status"] as? Int, 0)
        XCTAssertEqual(Set(added.keys), ["status", "height", "version"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(share)/docs/2026/report.pdf")), data)
        XCTAssertFalse(FileManager.default.fileExists(atPath: a.runtime.store.warehouse.path(for: hash)),
                       "the stored copy moved into the folder: the content is on disk once")
        XCTAssertTrue(a.runtime.store.warehouse.contains(hash), "and is still served")
        var files = try await listed(a)
        XCTAssertEqual(files.count, 1)
        XCTAssertEqual(files.first?["id"] as? String, id)
        XCTAssertEqual(files.first?["folder"] as? String, "docs/2026")
        XCTAssertEqual(files.first?["description"] as? String, "yearly")
        XCTAssertEqual(files.first?["size"] as? Int, data.count)

        // Refusals change nothing.
        let height = a.runtime.store.chain.height
        let missing = object(try await postJSON("\(a.base)/blockchain/file/add",
            ["files": [["hash": Data(Hash256.blake3([1]).bytes).base64EncodedString(), "name": "x"]]]).body)
        XCTAssertEqual(missing["status"] as? Int, 5, "StatusNotInWarehouse")
        let shortHash = try await postJSON("\(a.base)/blockchain/file/add", ["files": [["hash": "AAEC", "name": "x"]]])
        XCTAssertEqual(shortHash.status, 400)
        let notJSON = try await http("\(a.base)/blockchain/file/add", method: "POST", body: Data("{".utf8))
        XCTAssertEqual(notJSON.status, 400)
        let escape = object(try await postJSON("\(a.base)/blockchain/file/add",
            ["files": [["hash": b64, "name": "../../escaped.pdf", "folder": "../../.."]]]).body)
        XCTAssertEqual(escape["status"] as? Int, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(share)/../escaped.pdf"), "names from the API never leave the folder")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(share)/escaped.pdf"))
        let hidden = object(try await postJSON("\(a.base)/blockchain/file/add", ["files": [["hash": b64, "name": "draft.pdf.part"]]]).body)
        XCTAssertEqual(hidden["status"] as? Int, 3, "a name the ignore rules keep from the network is refused")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(share)/draft.pdf.part"), "and nothing is written")
        try FileManager.default.removeItem(atPath: "\(share)/escaped.pdf")
        a.runtime.publisher.poke()
        XCTAssertTrue(a.runtime.publisher.waitUntilSettled(timeout: 10))
        let afterRefusals = try await listed(a)
        XCTAssertEqual(afterRefusals.count, 1)
        XCTAssertGreaterThanOrEqual(a.runtime.store.chain.height, height)

        // Update: a move with a new description keeps the ID and copies nothing.
        let moved = object(try await postJSON("\(a.base)/blockchain/file/update",
            ["files": [["id": id, "hash": b64, "name": "final.pdf", "folder": "docs", "description": "final"]]]).body)
        XCTAssertEqual(moved["status"] as? Int, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(share)/docs/2026/report.pdf"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(share)/docs/final.pdf")), data)
        files = try await listed(a)
        XCTAssertEqual(files.count, 1)
        XCTAssertEqual(files.first?["id"] as? String, id)
        XCTAssertEqual(files.first?["name"] as? String, "final.pdf")
        XCTAssertEqual(files.first?["description"] as? String, "final")
        // Only the description.
        _ = try await postJSON("\(a.base)/blockchain/file/update",
            ["files": [["id": id, "hash": b64, "name": "final.pdf", "folder": "docs", "description": "v3"]]])
        let r2 = try await listed(a)
        XCTAssertEqual(r2.first?["description"] as? String, "v3")
        let unknown = object(try await postJSON("\(a.base)/blockchain/file/update",
            ["files": [["id": UUID().uuidString, "hash": b64, "name": "n"]]]).body)
        XCTAssertEqual(unknown["status"] as? Int, 4, "StatusDataNotFound")

        // A file copied into the folder (as into me/) is listed by the API.
        try Data("plain words".utf8).write(to: URL(fileURLWithPath: "\(share)/notes.txt"))
        a.runtime.publisher.poke()
        XCTAssertTrue(a.runtime.publisher.waitUntilSettled(timeout: 10))
        let r3 = try await listed(a)
        XCTAssertEqual(Set(r3.compactMap { $0["name"] as? String }), ["final.pdf", "notes.txt"])

        // A published file's content stays in the warehouse; unpublished content can go.
        let kept = object(try await http("\(a.base)/warehouse/delete?hash=\(hash.hex)").body)
        XCTAssertEqual(kept["status"] as? Int, 10)
        let other = multipart([("File", "other.bin", Data("temporary".utf8))])
        let otherHash = Hash256.blake3(Array("temporary".utf8))
        _ = try await http("\(a.base)/warehouse/create", method: "POST", headers: ["Content-Type": other.contentType], body: other.body)
        let r4 = try await http("\(a.base)/warehouse/delete?hash=\(otherHash.hex)")
        XCTAssertEqual(object(r4.body)["status"] as? Int, 0)
        let r5 = try await http("\(a.base)/warehouse/read?hash=\(otherHash.hex)")
        XCTAssertEqual(r5.status, 404)

        // Delete: the file leaves the folder and the chain.
        let deleted = object(try await postJSON("\(a.base)/blockchain/file/delete", ["files": [["id": id]]]).body)
        XCTAssertEqual(deleted["status"] as? Int, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(share)/docs/final.pdf"))
        let r6 = try await listed(a)
        XCTAssertEqual(r6.compactMap { $0["name"] as? String }, ["notes.txt"])

        // A virtual folder is an empty folder in the share folder.
        let folder = object(try await postJSON("\(a.base)/blockchain/file/add", ["files": [["type": 9, "format": 16, "name": "empty"]]]).body)
        XCTAssertEqual(folder["status"] as? Int, 0)
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(share)/empty", isDirectory: &isDirectory) && isDirectory.boolValue)
        let r7 = try await listed(a)
        XCTAssertTrue(r7.contains { $0["name"] as? String == "empty" && $0["type"] as? Int == 9 })
        await a.stop()
    }

    /// /account/delete needs the key and confirm=1; then peers get an empty chain, the
    /// warehouse and the identity go, the share folder is kept aside (the user's files), the
    /// node stops, and the data directory opens with a new identity (issue 17, security).
    func testAccountDeleteNeedsTheKeyAndConfirmation() async throws {
        let a = try APIPeer()
        let key = UUID()
        let stopped = Mutex(false)
        try await a.serve(key: key) { stopped.withLock { $0 = true } }
        let auth = ["x-api-key": key.uuidString]
        let identity = IdentityStore(dataDirectory: DataDirectory(url: a.dir))
        try identity.save(PrivateKey())
        let share = a.runtime.publisher.folder
        try Data("my own words".utf8).write(to: share.appendingPathComponent("diary.txt"))
        a.runtime.publisher.poke()
        XCTAssertTrue(a.runtime.publisher.waitUntilSettled(timeout: 10))
        XCTAssertEqual(try a.runtime.store.chain.files().count, 1)
        let version = a.runtime.store.chain.version

        let noKey = try await http("\(a.base)/account/delete?confirm=1")
        XCTAssertEqual(noKey.status, 401)
        let unconfirmed = try await http("\(a.base)/account/delete", headers: auth)
        XCTAssertEqual(unconfirmed.status, 204)
        XCTAssertEqual(try a.runtime.store.chain.files().count, 1, "nothing happens without confirm")
        XCTAssertTrue(FileManager.default.fileExists(atPath: identity.keyURL.path))

        let deleted = try await http("\(a.base)/account/delete?confirm=1", headers: auth)
        XCTAssertEqual(deleted.status, 200)
        XCTAssertEqual(try a.runtime.store.chain.files().count, 0)
        XCTAssertGreaterThan(a.runtime.store.chain.version, version, "peers take the empty chain over what they cached")
        XCTAssertEqual(a.runtime.store.warehouse.allHashes(), [])
        let aside = try FileManager.default.contentsOfDirectory(atPath: a.dir.path).filter { $0.hasPrefix("share.account-deleted-") }
        XCTAssertEqual(aside.count, 1)
        XCTAssertEqual(try String(contentsOf: a.dir.appendingPathComponent(aside[0]).appendingPathComponent("diary.txt"), encoding: .utf8), "my own words",
                       "the user's files are kept")
        await eventually(10, "the node stops") { stopped.withLock { $0 } }
        XCTAssertFalse(FileManager.default.fileExists(atPath: identity.keyURL.path), "the identity is gone")
        let header = try a.runtime.store.db.query("SELECT COUNT(*) FROM chain_header").first?.first
        let blocks = try a.runtime.store.db.query("SELECT COUNT(*) FROM chain_blocks").first?.first
        XCTAssertEqual(header, .integer(0), "the chain is forgotten: a new identity starts a chain of its own")
        XCTAssertEqual(blocks, .integer(0))
        await a.stop()
    }

    private func listed(_ a: APIPeer) async throws -> [[String: Any]] {
        object(try await http("\(a.base)/blockchain/file/list").body)["files"] as? [[String: Any]] ?? []
    }

    /// Profile fields round-trip with the reference's encoding (text fields as text, the
    /// picture as base64); another node's profile and files are read from its cached chain;
    /// /download/start fetches a peer's file to a path with progress (issue 17).
    func testProfileExploreAndDownloadThroughTheAPI() async throws {
        let holder = try APIPeer()
        let b = try APIPeer(roots: [holder])
        try await b.serve()
        await eventually(10, "connected") { b.runtime.node.isConnected(holder.runtime.node.publicKey) }

        let picture = Data([0x89, 0x50, 0x4e, 0x47, 0, 1, 2])
        let written = object(try await postJSON("\(b.base)/profile/write",
            ["fields": [["type": 0, "text": "Bea"], ["type": 6, "blob": picture.base64EncodedString()]]]).body)
        XCTAssertEqual(written["status"] as? Int, 0)
        let list = object(try await http("\(b.base)/profile/list").body)
        let fields = try XCTUnwrap(list["fields"] as? [[String: Any]])
        XCTAssertEqual(fields.first { $0["type"] as? Int == 0 }?["text"] as? String, "Bea")
        XCTAssertTrue(fields.first { $0["type"] as? Int == 0 }?["blob"] is NSNull, "a text field's blob is null")
        XCTAssertEqual(fields.first { $0["type"] as? Int == 6 }?["blob"] as? String, picture.base64EncodedString())
        let one = object(try await http("\(b.base)/profile/read?field=0").body)
        XCTAssertEqual((one["fields"] as? [[String: Any]])?.first?["text"] as? String, "Bea")
        let r8 = try await http("\(b.base)/profile/read?field=3")
        XCTAssertEqual(object(r8.body)["status"] as? Int, 4, "StatusDataNotFound")
        let r9 = try await http("\(b.base)/profile/read?field=x")
        XCTAssertEqual(r9.status, 400)
        _ = try await postJSON("\(b.base)/profile/delete", ["fields": [["type": 6]]])
        let r10 = try await http("\(b.base)/profile/list")
        XCTAssertEqual((object(r10.body)["fields"] as? [[String: Any]])?.count, 1)

        // A raw profile record appended (type 0 = profile: field 2 little-endian, then the value).
        let height = b.runtime.store.chain.height
        let website = Data([2, 0] + Array("https://bea.example".utf8)).base64EncodedString()
        let appended = object(try await postJSON("\(b.base)/blockchain/append", ["records": [["type": 0, "data": website]]]).body)
        XCTAssertEqual(appended["status"] as? Int, 0)
        XCTAssertEqual(appended["height"] as? Int, Int(height) + 1)
        XCTAssertEqual(try b.runtime.store.chain.profile()[2], Array("https://bea.example".utf8))
        let corrupt = object(try await postJSON("\(b.base)/blockchain/append", ["records": [["type": 0, "data": "AQ=="]]]).body)
        XCTAssertEqual(corrupt["status"] as? Int, 3, "a profile record shorter than 2 bytes is refused")
        XCTAssertEqual(b.runtime.store.chain.height, height + 1, "and nothing changed")

        // The chain's block, raw and decoded.
        let block = object(try await http("\(b.base)/blockchain/read?block=0").body)
        XCTAssertEqual(block["status"] as? Int, 0)
        XCTAssertEqual(block["peerid"] as? String, b.runtime.node.publicKey.hexString)
        XCTAssertFalse((block["recordsraw"] as? [[String: Any]] ?? []).isEmpty)
        let r11 = try await http("\(b.base)/blockchain/read?block=99")
        XCTAssertEqual(object(r11.body)["status"] as? Int, 1, "StatusBlockNotFound")

        // Another node's profile and files, from its cached chain.
        try holder.runtime.store.chain.writeProfile([ProfileField(field: 0, value: Array("Holder".utf8))])
        let data = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        let record = try holder.share([("lecture.mp4", data)])[0]
        let owner = holder.runtime.node.publicKey
        await eventually(15, "B cached the holder's chain") { ((try? b.runtime.store.catalog.files(owner: owner))?.count ?? 0) == 1 }
        let node = Hash256.nodeID(of: owner).hex
        let theirs = object(try await http("\(b.base)/profile/list?node=\(node)").body)
        XCTAssertEqual((theirs["fields"] as? [[String: Any]])?.first?["text"] as? String, "Holder")
        let explored = object(try await http("\(b.base)/explore?limit=10").body)
        XCTAssertEqual(explored["status"] as? Int, 1)
        XCTAssertEqual((explored["files"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["lecture.mp4"])
        let farOffset = try await http("\(b.base)/explore?offset=9223372036854775807&limit=10000")
        XCTAssertEqual(farOffset.status, 200, "an offset near Int.max is capped (it overflowed offset + limit and trapped the node)")
        XCTAssertEqual((object(farOffset.body)["files"] as? [Any])?.count, 0)
        let texts = object(try await http("\(b.base)/explore?type=1").body)
        XCTAssertEqual((texts["files"] as? [[String: Any]])?.count, 1, "the test's records are type 1 (text)")
        let videos = object(try await http("\(b.base)/explore?type=3").body)
        XCTAssertEqual((videos["files"] as? [[String: Any]])?.count, 0)
        let noBinaries = object(try await http("\(b.base)/explore?type=-2").body)
        XCTAssertEqual((noBinaries["files"] as? [[String: Any]])?.count, 0, "type -2 leaves out text")
        XCTAssertNotNil(noBinaries["files"] as? [Any], "an empty explore lists [] (the reference's non-nil slice), not null")
        let merged = object(try await http("\(b.base)/merge/directory?hash=\(record.hash.hex)").body)
        XCTAssertEqual((merged["files"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["lecture.mp4"],
                       "what the nodes sharing this file shared")
        let mergedNone = try await http("\(b.base)/merge/directory?hash=\(Hash256.blake3([7]).hex)")
        XCTAssertTrue(object(mergedNone.body)["files"] is NSNull)
        let view = object(try await http("\(b.base)/blockchain/view?node=\(node)").body)
        XCTAssertEqual((view["files"] as? [[String: Any]])?.first?["id"] as? String, record.id.uuidString.lowercased())

        // Download to a path.
        let target = b.dir.appendingPathComponent("lecture copy.mp4").path
        let started = object(try await http("\(b.base)/download/start?hash=\(record.hash.hex)&node=\(node)&path=\(target.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!)").body)
        XCTAssertEqual(started["apistatus"] as? Int, 0)
        XCTAssertEqual(started["downloadstatus"] as? Int, 0)
        let downloadID = try XCTUnwrap(started["id"] as? String)
        var status: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            status = object(try await http("\(b.base)/download/status?id=\(downloadID)").body)
            if status["downloadstatus"] as? Int == 5 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(status["downloadstatus"] as? Int, 5, "finished")
        XCTAssertEqual((status["progress"] as? [String: Any])?["percentage"] as? Double, 100)
        XCTAssertEqual((status["file"] as? [String: Any])?["name"] as? String, "lecture.mp4")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target)), Data(data))
        let again = object(try await http("\(b.base)/download/action?id=\(downloadID)&action=2").body)
        XCTAssertEqual(again["apistatus"] as? Int, 4, "a finished download cannot be canceled")
        let unknown = object(try await http("\(b.base)/download/status?id=\(UUID().uuidString)").body)
        XCTAssertEqual(unknown["apistatus"] as? Int, 1)
        XCTAssertTrue((unknown["file"] as? [String: Any])?["metadata"] is NSNull, "Go's zero apiFile")
        let badPath = object(try await http("\(b.base)/download/start?hash=\(record.hash.hex)&node=\(node)&path=/nonexistent/dir/x").body)
        XCTAssertEqual(badPath["apistatus"] as? Int, 2)

        // /file/view is /file/read with a content type for video.
        let viewed = try await http("\(b.base)/file/view?hash=\(record.hash.hex)&node=\(node)&format=14", headers: ["Range": "bytes=0-9"])
        XCTAssertEqual(viewed.status, 206)
        XCTAssertEqual(viewed.headers["content-type"], "video/mp4")
        XCTAssertEqual(viewed.body, Data(data.prefix(10)))
        let format = object(try await http("\(b.base)/file/format?path=\(target.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!)").body)
        XCTAssertEqual(format["status"] as? Int, 0)
        XCTAssertEqual(format["filetype"] as? Int, 3)
        await b.stop()
        await holder.stop()
    }
}
