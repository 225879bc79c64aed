import Foundation
import Logging
import PeernetSupport
import XCTest

final class RejectionLogTests: XCTestCase {
    /// A flood of one kind of junk is one line per interval, and the next line counts the rest.
    func testRejectionsAreLoggedWithReasonsAndRateLimited() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pn-rejections-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: file) }
        Log.shared.configure(file: file, level: .info)
        defer { Log.shared.close() }
        let log = RejectionLog(Logger.peernet("test"), interval: 0.3)
        for i in 0..<10_000 { log.reject("undecodable packet", "datagram \(i)") }
        log.reject("malformed message", "ping with a payload")
        Thread.sleep(forTimeInterval: 0.4)
        log.reject("undecodable packet", "datagram after the interval")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3, lines.joined(separator: "\n"))
        XCTAssertTrue(lines[0].contains("INFO [test] rejected: undecodable packet: datagram 0"), String(lines[0]))
        XCTAssertTrue(lines[1].contains("rejected: malformed message: ping with a payload"), String(lines[1]))
        XCTAssertTrue(lines[2].contains("datagram after the interval (and 9999 more like it"), String(lines[2]))
    }

    /// Without a configured file nothing is written and messages are not even built.
    func testNothingIsBuiltBeforeTheFileIsOpen() {
        Log.shared.close()
        let log = RejectionLog(Logger.peernet("test"))
        var built = false
        log.reject("x", { built = true; return "detail" }())
        XCTAssertFalse(built)
    }
}
