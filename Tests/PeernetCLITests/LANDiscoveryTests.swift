import Foundation
import XCTest

/// LAN discovery by IPv4 broadcast between two daemons, inside a private network namespace made
/// for this test (loopback plus a veth pair on the benchmarking subnet 198.18.0.0/24): nothing
/// can leave the machine. Needs root and iproute2 (CI has both); skipped with a notice otherwise.
final class LANDiscoveryTests: XCTestCase {
    func ip(_ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        if !FileManager.default.isExecutableFile(atPath: p.executableURL!.path) { p.executableURL = URL(fileURLWithPath: "/sbin/ip") }
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    func testTwoDaemonsFindEachOtherByBroadcast() throws {
        let ns = "pn-disc-\(getpid())"
        guard getuid() == 0, ip(["netns", "add", ns]) == 0 else {
            FileHandle.standardError.write(Data("notice: LAN discovery test skipped (needs root and iproute2 for a private network namespace)\n".utf8))
            throw XCTSkip("needs root and iproute2")
        }
        defer { _ = ip(["netns", "delete", ns]) }
        // A veth pair with both ends inside the namespace: a broadcast-capable "LAN".
        for args in [["link", "set", "lo", "up"], ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                     ["addr", "add", "198.18.0.1/24", "dev", "v0"], ["link", "set", "v0", "up"], ["link", "set", "v1", "up"],
                     ["route", "add", "default", "dev", "v0"]] {
            XCTAssertEqual(ip(["-n", ns] + args), 0, "ip \(args)")
        }
        let dir = URL(fileURLWithPath: "/tmp/pn-lan-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("lan.yaml")
        try "Listen: [\"0.0.0.0:0\"]\nSeedList: []\nLocalDiscovery: true\nEnableUPnP: false\n".write(to: config, atomically: true, encoding: .utf8)
        var daemons: [Process] = []
        defer { for d in daemons where d.isRunning { d.terminate(); d.waitUntilExit() } }
        for name in ["a", "b"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            if !FileManager.default.isExecutableFile(atPath: p.executableURL!.path) { p.executableURL = URL(fileURLWithPath: "/sbin/ip") }
            p.arguments = ["netns", "exec", ns, CLITests.binary.path, "daemon", "--data-dir", dir.appendingPathComponent(name).path,
                           "--config", config.path]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            daemons.append(p)
        }
        // The control sockets are files: reachable from outside the namespace.
        var connected = false
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && !connected {
            usleep(200_000)
            let out = Pipe()
            let q = Process()
            q.executableURL = CLITests.binary
            q.arguments = ["peers", "--json", "--data-dir", dir.appendingPathComponent("a").path]
            q.standardOutput = out
            q.standardError = FileHandle.nullDevice
            try q.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            q.waitUntilExit()
            let peers = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
            connected = peers.contains { $0["connected"] as? Bool == true }
        }
        XCTAssertTrue(connected, "A discovered B on the LAN")
    }
}
