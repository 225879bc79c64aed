import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
@testable import PeernetWebAPI
import TestSupport
import XCTest

/// A Peernet Browser session, scripted in the order a user drives it, against our node with a
/// key: start, search with results over the websocket, download with progress, view a file by
/// HTTP range, share a file, change the profile, delete the share (issue 17).
final class WebAPIBrowserSessionTests: XCTestCase {
    func testABrowserSessionFromStartToDelete() async throws {
        let holder = try APIPeer()
        let node = try APIPeer(roots: [holder])
        let key = UUID()
        try await node.serve(key: key)
        let auth = ["x-api-key": key.uuidString.lowercased()]
        let base = node.base
        let port = node.server!.boundEndpoints.withLock { $0[0].port }
        let video = (0..<1_500_000).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ $0 >> 11) }
        let record = try holder.share([("summer holiday.mp4", video)])[0]
        let holderNode = Hash256.nodeID(of: holder.runtime.node.publicKey).hex

        // Start: the Browser polls /status until the node has peers ("connected" needs two,
        // as in the reference; this network has one), then reads the account.
        var status: [String: Any] = [:]
        for _ in 0..<100 where (status["countpeerlist"] as? Int ?? 0) < 1 {
            status = object(try await http("\(base)/status", headers: auth).body)
            if (status["countpeerlist"] as? Int ?? 0) < 1 { try await Task.sleep(for: .milliseconds(100)) }
        }
        XCTAssertEqual(status["countpeerlist"] as? Int, 1, "/status counts the peer")
        XCTAssertEqual(status["isconnected"] as? Bool, false, "the reference's rule: connected means two peers or more")
        let account = object(try await http("\(base)/account/info", headers: auth).body)
        XCTAssertEqual(account["peerid"] as? String, node.runtime.node.publicKey.hexString)
        await eventually(15, "the holder's chain is known") { ((try? node.runtime.store.catalog.files(owner: holder.runtime.node.publicKey))?.count ?? 0) == 1 }

        // Search: results arrive over the websocket until the message that ends them.
        let search = object(try await http("\(base)/search", method: "POST", headers: auth, body: Data(#"{"term":"holiday","timeout":3}"#.utf8)).body)
        let searchID = try XCTUnwrap(search["id"] as? String)
        let messages = try await onThread { () -> [String] in
            let ws = try WebSocketTestClient(port: port, path: "/search/result/ws?id=\(searchID)", headers: auth)
            var out: [String] = []
            while out.count < 20, let m = try ws.receiveText() {
                out.append(m)
                if m.contains("\"status\":1") { break }
            }
            return out
        }
        let results = messages.flatMap { object(Data($0.utf8))["files"] as? [[String: Any]] ?? [] }
        let hit = try XCTUnwrap(results.first { $0["name"] as? String == "summer holiday.mp4" }, "the search found the video: \(messages)")
        XCTAssertEqual((hit["hash"] as? String).flatMap { Data(base64Encoded: $0) }, Data(record.hash.bytes))
        XCTAssertEqual((hit["nodeid"] as? String).flatMap { Data(base64Encoded: $0) }, Data(Hash256.nodeID(of: holder.runtime.node.publicKey).bytes))

        // Download, with the progress the Browser shows: never backwards, ending at 100%.
        let target = node.dir.appendingPathComponent("summer.mp4").path
        let started = object(try await http("\(base)/download/start?hash=\(record.hash.hex)&node=\(holderNode)&path=\(target)", headers: auth).body)
        let downloadID = try XCTUnwrap(started["id"] as? String)
        var percentages: [Double] = []
        var state = -1
        for _ in 0..<300 where state != 5 {
            let status = object(try await http("\(base)/download/status?id=\(downloadID)", headers: auth).body)
            state = status["downloadstatus"] as? Int ?? -1
            if let p = (status["progress"] as? [String: Any])?["percentage"] as? Double { percentages.append(p) }
            if state != 5 { try await Task.sleep(for: .milliseconds(50)) }
        }
        XCTAssertEqual(state, 5, "the download finished")
        XCTAssertEqual(percentages, percentages.sorted(), "progress never goes back")
        XCTAssertEqual(percentages.last, 100)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target)), Data(video))
        // The same engine as the drive: the download is in what .peernet/transfers shows.
        let transfers = node.runtime.downloader.activityLines()
        XCTAssertTrue(transfers.contains { $0.hasPrefix("done") && $0.contains("summer holiday.mp4") && $0.contains("1.5 MB of 1.5 MB") }, "\(transfers)")

        // View: the player asks for a range in the middle.
        let view = try await http("\(base)/file/view?hash=\(record.hash.hex)&node=\(holderNode)&format=14",
                                  headers: auth.merging(["Range": "bytes=1000000-1000099"]) { a, _ in a })
        XCTAssertEqual(view.status, 206)
        XCTAssertEqual(view.headers["content-range"], "bytes 1000000-1000099/1500000")
        XCTAssertEqual(view.body, Data(video[1_000_000..<1_000_100]))

        // Share: upload, then add the record; the holder sees it.
        let form = multipart([("File", "notes.txt", Data("beach list".utf8))])
        let uploaded = object(try await http("\(base)/warehouse/create", method: "POST",
                                             headers: auth.merging(["Content-Type": form.contentType]) { a, _ in a }, body: form.body).body)
        let hash = try XCTUnwrap(uploaded["hash"] as? String)
        let added = object(try await http("\(base)/blockchain/file/add", method: "POST", headers: auth,
                                          body: try JSONSerialization.data(withJSONObject: ["files": [["hash": hash, "name": "notes.txt"]]])).body)
        XCTAssertEqual(added["status"] as? Int, 0)
        let list = object(try await http("\(base)/blockchain/file/list", headers: auth).body)["files"] as? [[String: Any]] ?? []
        let shared = try XCTUnwrap(list.first { $0["name"] as? String == "notes.txt" })
        let sharedID = try XCTUnwrap(shared["id"] as? String)
        let me = node.runtime.node.publicKey
        await eventually(15, "the holder sees the shared file") {
            ((try? holder.runtime.store.catalog.files(owner: me)) ?? []).contains { $0.file.name == "notes.txt" }
        }

        // Profile: a name, read back.
        let written = object(try await http("\(base)/profile/write", method: "POST", headers: auth,
                                            body: Data(#"{"fields":[{"type":0,"text":"Bea"}]}"#.utf8)).body)
        XCTAssertEqual(written["status"] as? Int, 0)
        let name = object(try await http("\(base)/profile/read?field=0", headers: auth).body)
        XCTAssertEqual((name["fields"] as? [[String: Any]])?.first?["text"] as? String, "Bea")

        // Delete the share: gone from the list, and from what the holder sees.
        let deleted = object(try await http("\(base)/blockchain/file/delete", method: "POST", headers: auth,
                                            body: try JSONSerialization.data(withJSONObject: ["files": [["id": sharedID]]])).body)
        XCTAssertEqual(deleted["status"] as? Int, 0)
        let after = object(try await http("\(base)/blockchain/file/list", headers: auth).body)["files"] as? [[String: Any]] ?? []
        XCTAssertFalse(after.contains { $0["name"] as? String == "notes.txt" })
        await eventually(15, "the holder no longer sees it") {
            !((try? holder.runtime.store.catalog.files(owner: me)) ?? []).contains { $0.file.name == "notes.txt" }
        }
        await node.stop()
        await holder.stop()
    }
}
