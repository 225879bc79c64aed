import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import TestSupport
import XCTest

/// The daemon and the commands that talk to it, as a user runs them (loopback only).
final class DaemonCLITests: XCTestCase {
    var dir: URL!
    var daemons: [Process] = []

    override func setUpWithError() throws {
        dir = URL(fileURLWithPath: "/tmp/pn-d-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try CLITests.loopbackConfig.write(to: dir.appendingPathComponent("loopback.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        for d in daemons where d.isRunning { d.terminate(); d.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    var configPath: String { dir.appendingPathComponent("loopback.yaml").path }

    func startDaemon(_ name: String, extra: [String] = []) throws -> String {
        let data = dir.appendingPathComponent(name).path
        let p = try startPeernet(["daemon", "--data-dir", data, "--config", configPath] + extra, readyWhen: data + "/control.sock", timeout: 10)
        daemons.append(p)
        XCTAssertTrue(FileManager.default.fileExists(atPath: data + "/control.sock"), "daemon \(name) started")
        return data
    }

    func peernet(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try runPeernet(args) }

    /// Clients that hang up before their reply (a `peernet search` past its timeout, Ctrl-C)
    /// leave the node running: its write fails with EPIPE instead of raising SIGPIPE.
    func testClientsThatLeaveEarlyDoNotKillTheNode() throws {
        let a = try startDaemon("early")
        let request = Array("{\"command\":\"peers\",\"arguments\":{}}\n".utf8)
        for _ in 0..<30 {
            let fd = try XCTUnwrap(Optional(socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)).flatMap { $0 >= 0 ? $0 : nil })
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array((a + "/control.sock").utf8) + [0]) }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            XCTAssertEqual(connected, 0)
            _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)  // before the reply arrives
        }
        usleep(500_000)
        XCTAssertTrue(daemons.last?.isRunning ?? false, "the node survived")
        XCTAssertEqual(try peernet(["status", "--data-dir", a]).status, 0)
    }

    func testStatusAndPeersOfTwoDaemons() throws {
        let a = try startDaemon("a")
        let status = try peernet(["status", "--data-dir", a, "--json"])
        XCTAssertEqual(status.status, 0, status.err)
        let s = try JSONSerialization.jsonObject(with: Data(status.out.utf8)) as! [String: Any]
        let aPeer = s["peerId"] as! String
        let aListen = (s["listen"] as! [String])[0]
        XCTAssertTrue(aListen.hasPrefix("127.0.0.1:"))
        let b = try startDaemon("b", extra: ["--root", "\(aPeer)@\(aListen)"])
        var listed: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(10)
        repeat {
            usleep(100_000)
            let peers = try peernet(["peers", "--data-dir", a, "--json"])
            XCTAssertEqual(peers.status, 0, peers.err)
            listed = (try JSONSerialization.jsonObject(with: Data(peers.out.utf8)) as? [[String: Any]]) ?? []
        } while Date() < deadline && !listed.contains { $0["connected"] as? Bool == true }
        let bStatus = try JSONSerialization.jsonObject(with: Data(try peernet(["status", "--data-dir", b, "--json"]).out.utf8)) as! [String: Any]
        XCTAssertEqual(listed.first?["peerId"] as? String, bStatus["peerId"] as? String)
        XCTAssertEqual(listed.first?["userAgent"] as? String, "Peernet Swift/0.1.0")
        let human = try peernet(["peers", "--data-dir", b])
        XCTAssertTrue(human.out.contains(aPeer), human.out)
        XCTAssertTrue(human.out.contains("[root]"), human.out)
        // SIGTERM stops the daemon cleanly and removes its socket.
        daemons[0].terminate()
        daemons[0].waitUntilExit()
        XCTAssertEqual(daemons[0].terminationStatus, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: a + "/control.sock"))
    }

    func testNoDaemonAndBadConfigHaveDistinctExitCodes() throws {
        let none = try peernet(["status", "--data-dir", dir.appendingPathComponent("none").path])
        XCTAssertEqual(none.status, 3)
        XCTAssertTrue(none.err.contains("peernet daemon"), none.err)
        let bad = dir.appendingPathComponent("bad.yaml")
        try "PortForward: lots".write(to: bad, atomically: true, encoding: .utf8)
        let r = try peernet(["daemon", "--data-dir", dir.appendingPathComponent("x").path, "--config", bad.path])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("PortForward"), r.err)
        let shown = try peernet(["config", "show", "--config", configPath])
        XCTAssertEqual(shown.status, 0)
        XCTAssertTrue(shown.out.contains("LocalDiscovery: false"), shown.out)
        let twice = try startDaemon("one")
        let second = try peernet(["daemon", "--data-dir", twice, "--config", configPath])
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.err.contains("running"), second.err)
    }
}

/// Search and explore between two daemons, as a user runs them.
extension DaemonCLITests {
    func testSearchAndExploreAcrossDaemons() throws {
        let t = self
        let a = try t.startDaemon("a")
        let s = try JSONSerialization.jsonObject(with: Data(try t.peernet(["status", "--data-dir", a, "--json"]).out.utf8)) as! [String: Any]
        let b = try t.startDaemon("b", extra: ["--root", "\(s["peerId"] as! String)@\((s["listen"] as! [String])[0])"])
        let file = URL(fileURLWithPath: a).deletingLastPathComponent().appendingPathComponent("SummerConcert.flac")
        try Data(repeating: 5, count: 4000).write(to: file)
        XCTAssertEqual(try t.peernet(["share", file.path, "--folder", "Live", "--data-dir", a]).status, 0)
        var found = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && !found.contains("SummerConcert.flac") {
            found = try t.peernet(["search", "concert", "--timeout", "3", "--data-dir", b]).out
        }
        XCTAssertTrue(found.contains("Live/SummerConcert.flac"), found)
        XCTAssertTrue(found.contains("audio"), found)
        let json = try t.peernet(["search", "summer", "--json", "--timeout", "2", "--data-dir", b])
        let hits = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]] ?? []
        XCTAssertEqual(hits.first?["owner"] as? String, s["peerId"] as? String)
        // Download it by hash through B's node: the bytes equal the original.
        let hash = hits.first?["hash"] as? String ?? ""
        let out = URL(fileURLWithPath: b).appendingPathComponent("got.flac")
        let got = try t.peernet(["get", hash, "-o", out.path, "--data-dir", b])
        XCTAssertEqual(got.status, 0, got.err)
        // Nothing read it from the cache meanwhile, so its pages left the page cache once they
        // were durable (the node's next download reuses that memory). Checked before reading it.
        XCTAssertEqual(try residentPages(out.path), 0)
        XCTAssertEqual(try Data(contentsOf: out), Data(repeating: 5, count: 4000))
        XCTAssertGreaterThan(try residentPages(out.path), 0, "the check sees pages that are cached")
        // The download moved out of B's cache into the output; a second get fetches it again.
        let again = URL(fileURLWithPath: b).appendingPathComponent("again.flac")
        let second = try t.peernet(["get", hash, "-o", again.path, "--data-dir", b])
        XCTAssertEqual(second.status, 0, second.err)
        XCTAssertEqual(try Data(contentsOf: again), Data(repeating: 5, count: 4000))
        XCTAssertEqual(try Data(contentsOf: out), Data(repeating: 5, count: 4000))
        let unknown = try t.peernet(["get", String(repeating: "ab", count: 32), "--timeout", "1", "--data-dir", b])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.err.contains("neither a known file ID") || unknown.err.contains("no peer"), unknown.err)
        XCTAssertTrue(unknown.err.contains("raise --timeout"), "says what to do next: \(unknown.err)")
        let explore = try t.peernet(["explore", "--data-dir", b])
        XCTAssertTrue(explore.out.contains("SummerConcert.flac"), explore.out)
        let bad = try t.peernet(["search", "x", "--sort", "sideways", "--data-dir", b])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("unknown sort"), bad.err)
        // Without a node: local data only, with a notice.
        let offline = try t.peernet(["search", "concert", "--data-dir", t.dir.appendingPathComponent("nobody").path])
        XCTAssertTrue(offline.err.contains("local data only"), offline.err)
    }

    /// `peernet get` of a hash nobody is known to hold yet waits for a holder (issue 16: it
    /// failed at once, and a reference holder's new files are known only after the next fetch
    /// of its chain).
    func testGetWaitsForAHolder() throws {
        let t = self
        let a = try t.startDaemon("a")
        let s = try JSONSerialization.jsonObject(with: Data(try t.peernet(["status", "--data-dir", a, "--json"]).out.utf8)) as! [String: Any]
        let b = try t.startDaemon("b", extra: ["--root", "\(s["peerId"] as! String)@\((s["listen"] as! [String])[0])"])
        let file = dir.appendingPathComponent("late.bin")
        let bytes = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try bytes.write(to: file)
        let hash = String(try t.peernet(["hash", file.path]).out.prefix(64))
        let out = URL(fileURLWithPath: b).appendingPathComponent("late.bin").path
        let result = Mutex<(status: Int32, out: String, err: String)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let r = try? runPeernet(["get", hash, "-o", out, "--timeout", "60", "--data-dir", b])
            result.withLock { $0 = r }
            done.signal()
        }
        sleep(2)
        XCTAssertNil(result.withLock { $0 }, "still looking: nobody holds it yet")
        XCTAssertEqual(try t.peernet(["share", file.path, "--data-dir", a]).status, 0)
        XCTAssertEqual(done.wait(timeout: .now() + 90), .success)
        let r = result.withLock { $0 }
        XCTAssertEqual(r?.status, 0, r?.err ?? "no result")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), bytes)
    }

    /// A crash of the node leaves its trace in peernet.log, not only on the terminal's stderr.
    func testACrashIsRecordedInTheLog() throws {
        let dir = URL(fileURLWithPath: "/tmp/pn-crash-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try CLITests.loopbackConfig.write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let r = try runPeernet(["daemon", "--data-dir", dir.appendingPathComponent("data").path, "--config", dir.appendingPathComponent("c.yaml").path],
                               env: ["PEERNET_CRASH_AT": "node-started", "SWIFT_BACKTRACE": "enable=no"])
        XCTAssertNotEqual(r.status, 0)
        let log = (try? String(contentsOfFile: dir.appendingPathComponent("data/peernet.log").path, encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("peernet crashed with signal"), log)
    }

    /// A node nobody answers says so, with the root peers it tried and what to do (it said
    /// nothing; issue 16 item 4).
    func testAnOfflineNodeSaysWhy() throws {
        let dir = URL(fileURLWithPath: "/tmp/pn-alone-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A root peer on a loopback port where nothing listens.
        let config = "Listen: [\"127.0.0.1:0\"]\nLocalDiscovery: false\nSeedList:\n  - PublicKey: 021edde0eba487c55e67088bfc5e9a5c49cf35fef60f61aecba71ce4fe9c2a4feb\n    Address: [\"127.0.0.1:9\"]\n"
        try config.write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("out.log")
        let p = try startPeernet(["daemon", "--data-dir", dir.appendingPathComponent("data").path, "--config", dir.appendingPathComponent("c.yaml").path],
                                 readyWhen: dir.appendingPathComponent("data/control.sock").path, timeout: 10, log: log,
                                 env: ["PEERNET_ALONE_AFTER": "1"])
        defer { p.terminate(); p.waitUntilExit() }
        let deadline = Date().addingTimeInterval(15)
        var text = ""
        while Date() < deadline {
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if text.contains("no peer answered") { break }
            usleep(100_000)
        }
        XCTAssertTrue(text.contains("no peer answered") && text.contains("127.0.0.1:9") && text.contains("--root"), text)
    }

    /// `--webapi` and `--apikey` serve the reference's web API next to the node; /shutdown
    /// stops it; a non-loopback address is refused unless allowed (issue 17).
    func testDaemonServesTheWebAPI() async throws {
        let data = dir.appendingPathComponent("api").path
        let log = dir.appendingPathComponent("api.out")
        let key = UUID().uuidString.lowercased()
        let p = try startPeernet(["daemon", "--data-dir", data, "--config", configPath, "--webapi", "127.0.0.1:0", "--apikey", key],
                                 readyWhen: data + "/control.sock", timeout: 10, log: log)
        daemons.append(p)
        var base = ""
        let deadline = Date().addingTimeInterval(10)
        while base.isEmpty && Date() < deadline {
            let out = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let line = out.split(separator: "\n").first(where: { $0.hasPrefix("Web API on http://") }) {
                base = String(line.dropFirst("Web API on ".count))
            } else { usleep(50_000) }
        }
        XCTAssertFalse(base.isEmpty, "the daemon says where the API is")
        var request = URLRequest(url: URL(string: base + "/account/info")!)
        let (anonymous, r1) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((r1 as? HTTPURLResponse)?.statusCode, 401)
        XCTAssertTrue(anonymous.isEmpty)
        request.setValue(key, forHTTPHeaderField: "x-api-key")
        let (info, r2) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((r2 as? HTTPURLResponse)?.statusCode, 200)
        let peerID = (try? JSONSerialization.jsonObject(with: info) as? [String: Any])?["peerid"] as? String
        let status = try peernet(["status", "--data-dir", data, "--json"])
        XCTAssertTrue(status.out.contains(peerID ?? "no peer ID"), "the API speaks for the same node")
        var shutdown = URLRequest(url: URL(string: base + "/shutdown")!)
        shutdown.setValue(key, forHTTPHeaderField: "x-api-key")
        _ = try await URLSession.shared.data(for: shutdown)
        let stopBy = Date().addingTimeInterval(10)
        while p.isRunning && Date() < stopBy { usleep(50_000) }
        XCTAssertFalse(p.isRunning, "/shutdown stopped the node")

        let refused = try peernet(["daemon", "--data-dir", dir.appendingPathComponent("remote").path, "--config", configPath, "--webapi", "0.0.0.0:0"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.err.contains("other machines can reach"), refused.err)
    }

    /// APIUseSSL with the reference's APICertificateFile and APICertificateKey: the daemon
    /// serves HTTPS (curl verifies the certificate), and says where; without usable files it
    /// starts nothing and names the setting to fix.
    func testDaemonServesTheWebAPIOverTLS() throws {
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        let made = sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '\(key)' -out '\(cert)' -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>&1")
        try XCTSkipIf(made.status == 127, "openssl is not installed (scripts/install-deps.sh installs it)")
        XCTAssertEqual(made.status, 0, made.out)
        let base = try String(contentsOfFile: configPath, encoding: .utf8)
        let tlsConfig = dir.appendingPathComponent("tls.yaml").path
        try (base + "\nAPIListen: [\"127.0.0.1:0\"]\nAPIUseSSL: true\nAPICertificateFile: \"\(cert)\"\nAPICertificateKey: \"\(key)\"\n")
            .write(toFile: tlsConfig, atomically: true, encoding: .utf8)
        let data = dir.appendingPathComponent("tls").path
        let log = dir.appendingPathComponent("tls.out")
        let p = try startPeernet(["daemon", "--data-dir", data, "--config", tlsConfig], readyWhen: data + "/control.sock", timeout: 10, log: log)
        daemons.append(p)
        var address = ""
        let deadline = Date().addingTimeInterval(10)
        while address.isEmpty && Date() < deadline {
            let out = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let line = out.split(separator: "\n").first(where: { $0.hasPrefix("Web API on https://") }) {
                address = String(line.dropFirst("Web API on ".count).prefix { $0 != " " })
            } else { usleep(50_000) }
        }
        XCTAssertFalse(address.isEmpty, "the daemon says the API is on https")
        let answer = sh("curl -sS --max-time 20 --cacert '\(cert)' \(address)/account/info", timeout: 30)
        XCTAssertEqual(answer.status, 0, answer.err)
        XCTAssertTrue(answer.out.contains("\"peerid\""), answer.out)

        let noKey = dir.appendingPathComponent("nokey.yaml").path
        try (base + "\nAPIListen: [\"127.0.0.1:0\"]\nAPIUseSSL: true\nAPICertificateFile: \"\(cert)\"\n").write(toFile: noKey, atomically: true, encoding: .utf8)
        let refused = try peernet(["daemon", "--data-dir", dir.appendingPathComponent("nokey").path, "--config", noKey])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.err.contains("APICertificateKey is not set"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("nokey/control.sock").path), "nothing started")
    }
}
