import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
@testable import PeernetWebAPI
import TestSupport
import XCTest

final class WebAPIWebSocketTests: XCTestCase {
    /// /search/result/ws streams a network search's results until the last message says there
    /// are no more; /search/statistic counts them; /console answers the Cmd client's commands.
    /// Both websockets need the API key like every other path (issue 17).
    func testResultsStreamAndTheConsoleAnswer() async throws {
        let holder = try APIPeer()
        let b = try APIPeer(roots: [holder])
        let key = UUID()
        try await b.serve(key: key)
        let auth = ["x-api-key": key.uuidString]
        let port = b.server!.boundEndpoints.withLock { $0[0].port }
        await eventually(10, "connected") { b.runtime.node.isConnected(holder.runtime.node.publicKey) }
        _ = try holder.share([("holiday one.txt", Array("1".utf8)), ("holiday two.txt", Array("22".utf8)), ("holiday three.txt", Array("333".utf8))])
        let owner = holder.runtime.node.publicKey
        await eventually(15, "B cached the holder's chain") { ((try? b.runtime.store.catalog.files(owner: owner))?.count ?? 0) == 3 }

        let started = object(try await http("\(b.base)/search", method: "POST", headers: auth, body: Data(#"{"term":"holiday","timeout":3}"#.utf8)).body)
        let id = try XCTUnwrap(started["id"] as? String)
        let refused = try await onThread { () -> String in
            do { _ = try WebSocketTestClient(port: port, path: "/search/result/ws?id=\(id)"); return "upgraded" } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(refused.hasPrefix("refused"), "no key, no websocket: \(refused)")

        let messages = try await onThread { () -> [String] in
            let ws = try WebSocketTestClient(port: port, path: "/search/result/ws?id=\(id)", headers: auth)
            var out: [String] = []
            while out.count < 20, let m = try ws.receiveText() {
                out.append(m)
                if m.contains("\"status\":1") { break }
            }
            return out
        }
        let decoded = messages.map { object(Data($0.utf8)) }
        let names = decoded.flatMap { ($0["files"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } }
        XCTAssertEqual(Set(names), ["holiday one.txt", "holiday two.txt", "holiday three.txt"])
        XCTAssertEqual(names.count, 3, "each result once")
        XCTAssertEqual(decoded.last?["status"] as? Int, 1, "the last message says there are no more")

        let statistic = object(try await http("\(b.base)/search/statistic?id=\(id)", headers: auth).body)
        XCTAssertEqual(statistic["status"] as? Int, 0)
        XCTAssertEqual(statistic["total"] as? Int, 3)
        XCTAssertEqual((statistic["filetype"] as? [[String: Any]])?.first?["count"] as? Int, 3)
        let unknownStatistic = try await http("\(b.base)/search/statistic?id=\(UUID().uuidString)", headers: auth)
        XCTAssertEqual(object(unknownStatistic.body)["status"] as? Int, 2)
        let unknown = try await onThread { () -> String in
            do { _ = try WebSocketTestClient(port: port, path: "/search/result/ws?id=\(UUID().uuidString)", headers: auth); return "upgraded" } catch {
                return "\(error)"
            }
        }
        XCTAssertNotEqual(unknown, "upgraded", "an unknown search is not streamed")

        let console = try await onThread { () -> [String] in
            let ws = try WebSocketTestClient(port: port, path: "/console", headers: auth)
            var out = [try ws.receiveText() ?? ""]
            try ws.sendText("hash\nabc")
            out.append(try ws.receiveText() ?? "")
            try ws.sendText("status")
            out.append(try ws.receiveText() ?? "")
            try ws.sendText("debug key self")
            out.append(try ws.receiveText() ?? "")
            try ws.sendText("fly me to the moon")
            out.append(try ws.receiveText() ?? "")
            return out
        }
        XCTAssertTrue(console[0].contains("peer list"), "the help comes first")
        XCTAssertEqual(console[1], "blake3 hash: \(Hash256.blake3(Array("abc".utf8)).hex)\n")
        XCTAssertTrue(console[2].contains(b.runtime.node.publicKey.hexString))
        XCTAssertTrue(console[3].contains("not shown"), "no key over the API")
        XCTAssertTrue(console[4].hasPrefix("Unknown command"))
        let plain = try await http("\(b.base)/console", headers: auth)
        XCTAssertEqual(plain.status, 400, "without an upgrade, as the reference's upgrader answers")
        await b.stop()
        await holder.stop()
    }
}
