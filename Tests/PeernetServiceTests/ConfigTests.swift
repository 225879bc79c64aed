import Foundation
@testable import PeernetService
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
        let bad: [(String, String)] = [
            ("LocalDiscovery: maybe", "LocalDiscovery"),
            ("PortForward: 70000", "PortForward"),
            ("Listen: [\"not an address\"]", "Listen"),
            ("PrivateKey: \"abc\"", "PrivateKey"),
            ("SeedList:\n  - PublicKey: zz\n    Address: [\"1.2.3.4:5\"]", "SeedList[0].PublicKey"),
            ("SeedList:\n  - PublicKey: 031b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f\n    Address: [\"1.2.3.4:0\"]", "SeedList[0].Address"),
            ("LogLevel: loud", "LogLevel"),
            ("ReadTimeout: -1", "ReadTimeout"),
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
        FileManager.default.createFile(atPath: path, contents: Data())
        let server = try ControlServer(path: path) { request in
            if request.command == "fail" { throw ControlError.remote("it failed") }
            return try JSONEncoder().encode(["echo": request.command, "x": request.arguments["x"] ?? ""])
        }
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
}
