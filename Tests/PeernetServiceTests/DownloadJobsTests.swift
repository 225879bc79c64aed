import Foundation
import PeernetCrypto
import PeernetExchange
import PeernetNode
import PeernetProtocol
@testable import PeernetService
import PeernetStore
import PeernetSupport
import XCTest

/// `peernet get` asks its node for the download's state with a wait: the node answers when the
/// job ends (or after the wait with its progress). It polled every 150 ms before, so every get
/// took at least that long (174 ms for a 1,000-byte file already downloaded).
final class DownloadJobsTests: XCTestCase {
    func testAPollWaitsForTheEndOfItsJobAndNoLongerThanAsked() async throws {
        let dir = URL(fileURLWithPath: "/tmp/pn-jobs-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = PrivateKey()
        let store = try LocalStore(dataDirectory: DataDirectory(url: dir), key: key)
        let node = try Node(key: key, config: NodeConfig(listen: [Endpoint(ip: IPAddress("127.0.0.1")!, port: 0)]))
        var options = PeernetRuntime.Options()
        options.shareFolder = dir.appendingPathComponent("share")
        let runtime = try PeernetRuntime(store: store, node: node, options: options)
        node.start()
        defer { Task { await runtime.stop() } }
        let jobs = DownloadJobs()
        let none = await jobs.poll("no such job", wait: 0.2)
        XCTAssertNil(none)
        // A job that ends after a second (nobody holds the hash; it looks again once, a
        // second later, then gives up): a poll sent as it starts answers with its end.
        let unknown = String(repeating: "ab", count: 32)
        let quick = jobs.start(runtime.downloader, target: unknown, output: nil, timeout: 0.5)
        let ended = await jobs.poll(quick, wait: DownloadJobs.maxPollWait)
        XCTAssertEqual(ended?.done, true)
        XCTAssertTrue(ended?.error?.contains("neither a known file ID") == true, ended?.error ?? "no error")
        // A job still looking for holders: the poll answers after its wait, with the job running.
        let slow = jobs.start(runtime.downloader, target: unknown, output: nil, timeout: 30)
        let started = Date()
        let running = await jobs.poll(slow, wait: 0.3)
        XCTAssertEqual(running?.done, false)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "bounded by the wait (at most maxPollWait)")
    }
}
