import Foundation
@testable import PeernetService
import PeernetFS
import PeernetNode
import XCTest

final class ConfigTests: XCTestCase {
    func testReferenceConfigCarriesOver() throws {
        let yaml = """
        LogFile: "data/log backend.txt"
        Listen: ["127.0.0.1:7001", "[::1]:7002"]
        PrivateKey: "0101010101010101010101010101010101010101010101010101010101010101"
        SeedList:
          - PublicKey: 031b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f
            Address: ["127.0.0.1:7003"]
        AutoUpdateSeedList: false
        SeedListVersion: 1
        EnableUPnP: false
        LocalFirewall: true
        PortForward: 4000
        CacheMaxBlockSize: 1000
        """
        let (config, warnings) = try PeernetConfig.parse(yaml)
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(config.listen, ["127.0.0.1:7001", "[::1]:7002"])
        XCTAssertEqual(config.seedList.count, 1)
        XCTAssertEqual(config.portForward, 4000)
        XCTAssertTrue(config.localFirewall)
        XCTAssertFalse(config.enableUPnP)
        XCTAssertEqual(config.cacheMaxBlockSize, 1000)
        let node = config.nodeConfig(userAgent: "x")
        XCTAssertEqual(node.listen.map(\.description), ["127.0.0.1:7001", "[::1]:7002"])
        XCTAssertEqual(node.rootPeers.first?.addresses.first?.description, "127.0.0.1:7003")
        XCTAssertTrue(node.localFirewall)
        // The printed form hides the key.
        XCTAssertFalse(config.yaml().contains("0101010101"))
    }

    func testDefaultsAreThePublicNetwork() throws {
        let (config, _) = try PeernetConfig.parse("")
        XCTAssertEqual(config.seedList.count, 5)
        XCTAssertTrue(config.localDiscovery)
        XCTAssertEqual(config.nodeConfig(userAgent: "x").listen.map(\.port), [112, 112])
        let (missing, _) = try PeernetConfig.load(path: "/nonexistent/peernet.yaml")
        XCTAssertEqual(missing, PeernetConfig())
    }

    func testUnknownKeysWarnAndInvalidValuesNameTheKey() throws {
        let (_, warnings) = try PeernetConfig.parse("Frobnicate: 3\nLocalDiscovery: false\n", file: "c.yaml")
        XCTAssertEqual(warnings, ["c.yaml: unknown key 'Frobnicate' ignored"])
        XCTAssertEqual(try PeernetConfig.parse("ShareView: bind").0.shareView, .bind)
        XCTAssertEqual(try PeernetConfig.parse("ShareView: fuse").0.shareView, .fuse)
        XCTAssertEqual(try PeernetConfig.parse("").0.shareView, .link)
        let bad: [(String, String)] = [
            ("LocalDiscovery: maybe", "LocalDiscovery"),
            ("PortForward: 70000", "PortForward"),
            ("Listen: [\"not an address\"]", "Listen"),
            ("PrivateKey: \"abc\"", "PrivateKey"),
            ("SeedList:\n  - PublicKey: zz\n    Address: [\"1.2.3.4:5\"]", "SeedList[0].PublicKey"),
            ("SeedList:\n  - PublicKey: 031b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f\n    Address: [\"1.2.3.4:0\"]", "SeedList[0].Address"),
            ("LogLevel: loud", "LogLevel"),
            ("ReadTimeout: -1", "ReadTimeout"),
            ("ShareView: sideways", "ShareView"),
            ("- just\n- a list", "(file)"),
            ("Listen: [", "(file)"),
        ]
        for (yaml, key) in bad {
            XCTAssertThrowsError(try PeernetConfig.parse(yaml), yaml) { error in
                XCTAssertEqual((error as? ConfigError)?.key, key, yaml)
            }
        }
        XCTAssertThrowsError(try PeernetConfig.parse("LogLevel: loud")) {
            XCTAssertTrue("\($0)".contains("debug, info, warning, error"))
        }
    }
}

final class ControlChannelTests: XCTestCase {
    func testRequestReplyStaleSocketAndSecondServer() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pn-ctl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("control.sock").path
        // A stale socket file from a crashed node is cleared.
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        // The idle clients must still be connected when the cap is tested, however slowly a
        // loaded machine runs this test: a long deadline here (the 5 s default is tested by the
        // drip below through its effect: the request still went through).
        // The socket's name appears by a rename, once it listens (not created by bind, when a
        // client could find it and be refused), and nothing else is left in the directory.
        let watch = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        XCTAssertGreaterThanOrEqual(watch, 0)
        defer { close(watch) }
        XCTAssertGreaterThanOrEqual(inotify_add_watch(watch, dir.path, UInt32(IN_CREATE | IN_MOVED_TO)), 0)
        let server = try ControlServer(path: path, requestDeadline: 60) { request in
            if request.command == "fail" { throw ControlError.remote("it failed") }
            return try JSONEncoder().encode(["echo": request.command, "x": request.arguments["x"] ?? ""])
        }
        var events = [UInt8](repeating: 0, count: 4096)
        let got = events.withUnsafeMutableBytes { read(watch, $0.baseAddress, $0.count) }
        var arrivals: [(name: String, moved: Bool)] = []
        var at = 0
        while got > 0, at + 16 <= got {
            let mask = events.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self) }
            let length = Int(events.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self) })
            let name = String(decoding: events[(at + 16)..<(at + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
            arrivals.append((name, mask & UInt32(IN_MOVED_TO) != 0))
            at += 16 + length
        }
        XCTAssertEqual(arrivals.filter { $0.name == "control.sock" }.map(\.moved), [true], "\(arrivals)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["control.sock"])
        server.start()
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let reply = try ControlClient.call(path: path, ControlRequest(command: "hello", arguments: ["x": "1"]))
        XCTAssertEqual(try JSONDecoder().decode([String: String].self, from: reply), ["echo": "hello", "x": "1"])
        XCTAssertThrowsError(try ControlClient.call(path: path, ControlRequest(command: "fail"))) {
            XCTAssertEqual($0 as? ControlError, .remote("it failed"))
        }
        XCTAssertThrowsError(try ControlServer(path: path) { _ in Data() }) {
            XCTAssertEqual($0 as? ControlError, .alreadyRunning(path: path))
        }
        server.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertThrowsError(try ControlClient.call(path: path, ControlRequest(command: "hello"))) {
            XCTAssertEqual($0 as? ControlError, .notRunning(path: path))
        }
    }

    /// Idle and dripping clients do not stall the node: each client has a thread of its own
    /// (two idle connections used to hold the cooperative pool for 5 s, delaying every other
    /// request and the node's own work), a request must arrive whole within the deadline, and
    /// past the client cap the answer is "busy" at once.
    func testIdleClientsDoNotStallOtherRequestsOrTheNode() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pn-ctl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("control.sock").path
        // The idle clients must still be connected when the cap is tested, however slowly a
        // loaded machine runs this test: a long deadline here (the 5 s default is tested by the
        // drip below through its effect: the request still went through).
        let server = try ControlServer(path: path, requestDeadline: 60) { request in
            try await Task.sleep(for: .milliseconds(10))   // handlers are async work on the pool
            return try JSONEncoder().encode(request.command)
        }
        server.start()
        defer { server.stop() }
        var idle: [Int32] = []
        for i in 0..<(ControlServer.maxClients - 2) {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            _ = try ControlClient.withAddress(path) { connect(fd, $0, $1) }
            if i % 2 == 0 { _ = send(fd, "{", 1, 0) }   // half of them drip a first byte and stop
            idle.append(fd)
        }
        defer { idle.forEach { close($0) } }
        usleep(200_000)
        // The pool is free: async work and a request both finish long before the 5 s the idle
        // clients may take.
        let start = Date()
        try await Task.sleep(for: .milliseconds(5))
        let reply = try ControlClient.call(path: path, ControlRequest(command: "status"))
        XCTAssertEqual(String(decoding: reply, as: UTF8.self), "\"status\"")
        XCTAssertLessThan(Date().timeIntervalSince(start), 3, "a request waited for idle clients")
        // Past the cap: busy at once. Clients are added until the server holds its cap (under
        // two CPU hogs a fixed number of them, waited for a fixed time, fell short: make test
        // failed 2 of 10 runs).
        var extra: [Int32] = []
        defer { extra.forEach { close($0) } }
        let deadline = Date().addingTimeInterval(30)
        while server.activeClients < ControlServer.maxClients && Date() < deadline {
            if extra.count < 64 {
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                _ = try ControlClient.withAddress(path) { connect(fd, $0, $1) }
                extra.append(fd)
            }
            usleep(50_000)
        }
        XCTAssertEqual(server.activeClients, ControlServer.maxClients)
        XCTAssertThrowsError(try ControlClient.call(path: path, ControlRequest(command: "status"))) {
            XCTAssertTrue("\($0)".contains("busy"), "\($0)")
        }
    }
}
