import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetNode
import PeernetProtocol
import PeernetStore
import PeernetSupport
@testable import PeernetWebAPI
import TestSupport
import XCTest
import Yams

/// A node with its runtime on 127.0.0.1 and, optionally, the web API.
final class APIPeer: @unchecked Sendable {
    let dir: URL
    let runtime: PeernetRuntime
    var server: WebAPIServer?
    var base = ""

    init(roots: [APIPeer] = []) throws {
        dir = URL(fileURLWithPath: "/tmp/pn-api-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let key = PrivateKey()
        let store = try LocalStore(dataDirectory: DataDirectory(url: dir), key: key)
        var config = NodeConfig(listen: [Endpoint("127.0.0.1:0")!])
        config.rootPeers = roots.map { RootPeer(publicKey: $0.runtime.node.publicKey, addresses: $0.runtime.node.listenEndpoints) }
        config.timings = .steadyForTests
        var options = PeernetRuntime.Options()
        options.recordLifetime = 600
        options.replication = 6
        options.publishing.settle = 0.2
        runtime = try PeernetRuntime(store: store, node: try Node(key: key, config: config), options: options)
        runtime.start()
    }

    func serve(key: UUID = WebAPIConfiguration.nullKey, onShutdown: @escaping @Sendable () -> Void = {}) async throws {
        let s = WebAPIServer(runtime: runtime, configuration: WebAPIConfiguration(listen: ["127.0.0.1:0"], apiKey: key), onShutdown: onShutdown)
        try await s.start()
        server = s
        base = "http://\(s.boundEndpoints.withLock { $0 }[0])"
    }

    /// Shares in-memory files (name -> bytes) in one block.
    func share(_ files: [(String, [UInt8])]) throws -> [FileRecord] {
        var records: [FileRecord] = []
        for (name, data) in files {
            let imported = try runtime.store.warehouse.importData(data)
            records.append(FileRecord(hash: imported.hash, id: .random(), merkleRoot: imported.merkle.root,
                                      fragmentSize: imported.merkle.fragmentSize, type: 1, format: 10, size: imported.size,
                                      tags: [FileTag(type: FileTag.name, text: name)]))
        }
        try runtime.store.chain.addFiles(records)
        runtime.exchange.publishChainState()
        return records
    }

    func stop() async {
        await server?.stop()
        await runtime.stop()
        try? FileManager.default.removeItem(at: dir)
    }
}

/// One HTTP exchange: status, headers, body.
func http(_ url: String, method: String = "GET", headers: [String: String] = [:], body: Data? = nil) async throws
    -> (status: Int, headers: [String: String], body: Data) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    request.httpBody = body
    for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let r = response as! HTTPURLResponse
    var h: [String: String] = [:]
    for (k, v) in r.allHeaderFields { h[String(describing: k).lowercased()] = String(describing: v) }
    return (r.statusCode, h, data)
}

func object(_ data: Data) -> [String: Any] { (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:] }

final class WebAPITests: XCTestCase {
    /// The key is enforced as the reference does (401 without it or with another), and the
    /// JSON has the reference's fields and encodings (issue 17).
    func testKeyIsEnforcedAndShapesAreTheReferences() async throws {
        let a = try APIPeer()
        let key = UUID()
        try await a.serve(key: key)
        let auth = ["x-api-key": key.uuidString.lowercased()]
        let none = try await http("\(a.base)/status")
        XCTAssertEqual(none.status, 401)
        XCTAssertTrue(none.body.isEmpty)
        let wrong = try await http("\(a.base)/status", headers: ["x-api-key": UUID().uuidString])
        XCTAssertEqual(wrong.status, 401)
        let notAKey = try await http("\(a.base)/account/info", headers: ["x-api-key": "hello"])
        XCTAssertEqual(notAKey.status, 401)

        let status = try await http("\(a.base)/status", headers: auth)
        XCTAssertEqual(status.status, 200)
        XCTAssertEqual(status.headers["content-type"], "application/json")
        XCTAssertEqual(Set(object(status.body).keys), ["status", "isconnected", "countpeerlist", "countnetwork"])
        XCTAssertEqual(status.body.last, 0x0a, "json.Encoder's trailing newline")
        // No CORS headers, as in the reference: a web page on another origin cannot use the API.
        let preflight = try await http("\(a.base)/status", method: "OPTIONS", headers: auth.merging(["Origin": "https://evil.example", "Access-Control-Request-Method": "GET"]) { x, _ in x })
        for response in [status.headers, preflight.headers] {
            XCTAssertFalse(response.keys.contains { $0.hasPrefix("access-control-") }, "\(response)")
        }

        let me = a.runtime.node.publicKey
        let info = object(try await http("\(a.base)/account/info", headers: auth).body)
        XCTAssertEqual(info["peerid"] as? String, me.hexString)
        XCTAssertEqual(info["nodeid"] as? String, Hash256.nodeID(of: me).hex)

        let empty = try await http("\(a.base)/blockchain/file/list", headers: auth)
        XCTAssertTrue(String(decoding: empty.body, as: UTF8.self).contains("\"files\":null"), "Go writes a nil slice as null")

        let record = try a.share([("Holiday Beach.jpg", Array("sand and sea".utf8))])[0]
        let header = object(try await http("\(a.base)/blockchain/header", headers: auth).body)
        XCTAssertEqual(Set(header.keys), ["peerid", "version", "height"])
        XCTAssertEqual(header["height"] as? Int, 1)
        let list = object(try await http("\(a.base)/blockchain/file/list", headers: auth).body)
        XCTAssertEqual(list["status"] as? Int, 0)
        let files = try XCTUnwrap(list["files"] as? [[String: Any]])
        XCTAssertEqual(files.count, 1)
        let f = files[0]
        XCTAssertEqual(Set(f.keys), ["id", "hash", "type", "format", "size", "folder", "name", "description", "date", "nodeid", "metadata", "username"])
        XCTAssertEqual(f["id"] as? String, record.id.uuidString.lowercased())
        XCTAssertEqual((f["hash"] as? String).flatMap { Data(base64Encoded: $0) }, Data(record.hash.bytes), "[]byte as base64")
        XCTAssertEqual((f["nodeid"] as? String).flatMap { Data(base64Encoded: $0) }, Data(Hash256.nodeID(of: me).bytes))
        XCTAssertEqual(f["name"] as? String, "Holiday Beach.jpg")
        XCTAssertEqual(f["size"] as? Int, 12)
        let date = try XCTUnwrap(f["date"] as? String)
        XCTAssertNotNil(ISO8601DateFormatter().date(from: date), "RFC 3339: \(date)")
        let unknown = try await http("\(a.base)/no/such/endpoint", headers: auth)
        XCTAssertEqual(unknown.status, 404)
        await a.stop()
    }

    /// A search through the API finds another peer's file, and /file/read streams it, whole
    /// or by HTTP range, verified (issue 17: a Browser session's search and view).
    func testSearchThenReadAnotherPeersFileWithRanges() async throws {
        let holder = try APIPeer()
        let b = try APIPeer(roots: [holder])
        try await b.serve()
        await eventually(10, "connected") { b.runtime.node.isConnected(holder.runtime.node.publicKey) }
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let record = try holder.share([("holiday video.mp4", data)])[0]
        await eventually(15, "B cached the holder's chain") { ((try? b.runtime.store.catalog.files(owner: holder.runtime.node.publicKey))?.count ?? 0) == 1 }

        let started = object(try await http("\(b.base)/search", method: "POST", body: Data(#"{"term":"holiday","timeout":5}"#.utf8)).body)
        XCTAssertEqual(started["status"] as? Int, 0)
        let id = try XCTUnwrap(started["id"] as? String)
        var found: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(15)
        while found.isEmpty && Date() < deadline {
            let r = object(try await http("\(b.base)/search/result?id=\(id)&limit=10").body)
            if r["status"] as? Int == 0 { found = r["files"] as? [[String: Any]] ?? [] } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        XCTAssertEqual(found.first?["name"] as? String, "holiday video.mp4")
        let metadata = found.first?["metadata"] as? [[String: Any]] ?? []
        XCTAssertTrue(metadata.contains { $0["name"] as? String == "Shared By Count" }, "search results say how many share it, as the reference's do")
        let terminated = try await http("\(b.base)/search/terminate?id=\(id)")
        XCTAssertEqual(terminated.status, 204)
        let gone = object(try await http("\(b.base)/search/result?id=\(id)").body)
        XCTAssertEqual(gone["status"] as? Int, 2, "ID not found")
        let invalid = object(try await http("\(b.base)/search", method: "POST", body: Data(#"{"term":""}"#.utf8)).body)
        XCTAssertEqual(invalid["status"] as? Int, 1)
        let badJSON = try await http("\(b.base)/search", method: "POST", body: Data("{not json".utf8))
        XCTAssertEqual(badJSON.status, 400)

        let node = Hash256.nodeID(of: holder.runtime.node.publicKey).hex
        let url = "\(b.base)/file/read?hash=\(record.hash.hex)&node=\(node)"
        let part = try await http(url, headers: ["Range": "bytes=1000-1999"])
        XCTAssertEqual(part.status, 206)
        XCTAssertEqual(part.headers["content-range"], "bytes 1000-1999/300000")
        XCTAssertEqual(part.body, Data(data[1000..<2000]))
        let tail = try await http(url, headers: ["Range": "bytes=-10"])
        XCTAssertEqual(tail.body, Data(data.suffix(10)))
        let whole = try await http(url)
        XCTAssertEqual(whole.status, 200)
        XCTAssertEqual(whole.headers["content-length"], "300000")
        XCTAssertEqual(whole.body, Data(data))
        let several = try await http(url, headers: ["Range": "bytes=0-1,5-6"])
        XCTAssertEqual(several.status, 400, "multipart ranges are refused, as the reference does")
        let beyond = try await http(url, headers: ["Range": "bytes=400000-"])
        XCTAssertEqual(beyond.status, 416)
        let offsetLimit = try await http("\(url)&offset=299990&limit=10")
        XCTAssertEqual(offsetLimit.body, Data(data.suffix(10)))
        let pastEnd = try await http("\(url)&offset=299990&limit=11")
        XCTAssertEqual(pastEnd.status, 400)
        let noSuch = try await http("\(b.base)/file/read?hash=\(Hash256.blake3([9]).hex)&node=\(node)")
        XCTAssertEqual(noSuch.status, 404)
        let badHash = try await http("\(b.base)/file/read?hash=xyz&node=\(node)")
        XCTAssertEqual(badHash.status, 400)
        await b.stop()
        await holder.stop()
    }

    /// Listening beyond loopback needs an explicit yes (issue 17).
    func testNonLoopbackAddressesNeedExplicitConsent() throws {
        XCTAssertThrowsError(try WebAPIConfiguration(listen: ["0.0.0.0:8112"]).endpoints()) { error in
            XCTAssertEqual(error as? WebAPIConfiguration.Problem, .remoteNotAllowed("0.0.0.0:8112"))
        }
        XCTAssertThrowsError(try WebAPIConfiguration(listen: ["192.168.1.5:8112"]).endpoints())
        XCTAssertThrowsError(try WebAPIConfiguration(listen: ["localhost"]).endpoints())
        XCTAssertEqual(try WebAPIConfiguration(listen: ["127.0.0.1:8112", "[::1]:8112"]).endpoints().count, 2)
        XCTAssertEqual(try WebAPIConfiguration(listen: ["0.0.0.0:8112"], allowRemote: true).endpoints().count, 1)
        XCTAssertEqual(try HTTPByteRange.parse("bytes=5-")?.resolve(size: 10).map { [$0.offset, $0.length] }, [5, 5])
        XCTAssertNil(try HTTPByteRange.parse("bytes=10-")?.resolve(size: 10))
        XCTAssertEqual(try HTTPByteRange.parse("bytes=-20")?.resolve(size: 10).map { [$0.offset, $0.length] }, [0, 10])
        XCTAssertThrowsError(try HTTPByteRange.parse("bytes=5-2"))
        XCTAssertThrowsError(try HTTPByteRange.parse("items=1-2"))
        XCTAssertThrowsError(try HTTPByteRange.parse("bytes=18446744073709551616-"), "beyond 64 bits")
    }

    /// docs/webapi-openapi.yaml describes what the server serves: every documented route
    /// answers (not 404), and every served route is documented.
    func testOpenAPIDescriptionMatchesTheServer() async throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/webapi-openapi.yaml")
        let doc = try XCTUnwrap(try Yams.load(yaml: String(contentsOf: url, encoding: .utf8)) as? [String: Any])
        let paths = try XCTUnwrap(doc["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, methods) in paths { for m in methods.keys { documented.insert("\(m.uppercased()) \(path)") } }
        XCTAssertEqual(documented, Set(WebAPIServer.routes.map { "\($0.method) \($0.path)" }))
        let a = try APIPeer()
        try await a.serve()
        for route in WebAPIServer.routes where route.path != "/shutdown" {
            let r = try await http("\(a.base)\(route.path)?id=\(UUID())", method: route.method, body: route.method == "POST" ? Data("{}".utf8) : nil)
            XCTAssertNotEqual(r.status, 404, "\(route.method) \(route.path)")
        }
        await a.stop()
    }
}
