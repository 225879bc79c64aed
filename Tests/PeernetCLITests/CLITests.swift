import Foundation
import TestSupport
import XCTest

/// End-to-end tests of the built `peernet` binary (built by `swift build` before `swift test`).
final class CLITests: XCTestCase {
    struct Result { let status: Int32; let stdout: String; let stderr: String }

    static var binary: URL {
        // The test bundle sits in the same build products folder as the executables.
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        for candidate in [dir, Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("peernet")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return dir.appendingPathComponent("peernet")
    }

    private var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("pn-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary.path),
                      "build the executable first: swift build (the README's test command does)")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func run(_ args: [String], stdin: Data? = nil, env: [String: String] = [:]) throws -> Result {
        let r = try runPeernet(args, stdin: stdin, env: env)
        return Result(status: r.status, stdout: r.out, stderr: r.err)
    }

    func testVersionAndHelp() throws {
        let v = try run(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.stdout.hasPrefix("peernet "), v.stdout)
        let h = try run(["--help"])
        XCTAssertEqual(h.status, 0)
        XCTAssertTrue(h.stdout.contains("identity"))
        XCTAssertTrue(h.stdout.contains("hash"))
    }

    func testIdentityIsCreatedOnceAndStable() throws {
        let data = dir.appendingPathComponent("node").path
        let first = try run(["identity", "--data-dir", data, "--json"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let a = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(a["created"] as? Bool, true)
        let peerID = a["peerId"] as! String
        XCTAssertEqual(peerID.count, 66)
        XCTAssertEqual((a["nodeId"] as! String).count, 64)
        let second = try run(["identity", "--data-dir", data, "--json"])
        let b = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(b["created"] as? Bool, false)
        XCTAssertEqual(b["peerId"] as? String, peerID)
        XCTAssertEqual(b["nodeId"] as? String, a["nodeId"] as? String)
        // The environment variable selects the same directory.
        let viaEnv = try run(["identity"], env: ["PEERNET_DATA_DIR": data])
        XCTAssertTrue(viaEnv.stdout.contains(peerID), viaEnv.stdout)
        let attrs = try FileManager.default.attributesOfItem(atPath: data + "/identity.key")
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    }

    func testXDGDefaultDataDirectory() throws {
        let xdg = dir.appendingPathComponent("xdg").path
        let r = try run(["identity", "--json"], env: ["XDG_DATA_HOME": xdg])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: xdg + "/peernet/identity.key"))
    }

    func testCorruptIdentityExitsWithClearError() throws {
        let data = dir.appendingPathComponent("bad")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try "xyz".write(to: data.appendingPathComponent("identity.key"), atomically: true, encoding: .utf8)
        let r = try run(["identity", "--data-dir", data.path])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("identity.key"), r.stderr)
    }

    func testHashMatchesB3sumFormat() throws {
        let file = dir.appendingPathComponent("abc.txt")
        try Data("abc".utf8).write(to: file)
        let empty = dir.appendingPathComponent("empty")
        try Data().write(to: empty)
        let r = try run(["hash", file.path, empty.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
        6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85  \(file.path)
        af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262  \(empty.path)

        """)
        let stdin = try run(["hash"], stdin: Data("abc".utf8))
        XCTAssertEqual(stdin.stdout, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85  -\n")
        let json = try run(["hash", "--json", file.path])
        let list = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [[String: String]]
        XCTAssertEqual(list.first?["hash"], "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85")
        XCTAssertEqual(list.first?["path"], file.path)
    }

    func testHashAgreesWithB3sumOnRandomFiles() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/b3sum") else {
            throw XCTSkip("b3sum is not installed")
        }
        var paths: [String] = []
        for size in [0, 1, 1024, 1025, 100_003, 3_000_017] {
            let url = dir.appendingPathComponent("r\(size)")
            try Data((0..<size).map { _ in UInt8.random(in: 0...255) }).write(to: url)
            paths.append(url.path)
        }
        let ours = try run(["hash"] + paths)
        let theirs = try runProcess(URL(fileURLWithPath: "/usr/bin/b3sum"), paths).out
        XCTAssertEqual(ours.stdout, theirs)
    }

    func testHashOfMissingFileFailsButHashesTheRest() throws {
        let file = dir.appendingPathComponent("abc.txt")
        try Data("abc".utf8).write(to: file)
        let r = try run(["hash", dir.appendingPathComponent("nope").path, file.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("No such file"), r.stderr)
        XCTAssertTrue(r.stdout.contains("6437b3ac"))
        let d = try run(["hash", dir.path])
        XCTAssertEqual(d.status, 1)
        XCTAssertTrue(d.stderr.contains("Is a directory"), d.stderr)
    }

    /// export -> import carries the identity to another data directory; the file is 0600;
    /// a different existing identity is only replaced with --force; junk is refused (exit 2);
    /// a reference Config.yaml's PrivateKey line is accepted.
    func testIdentityExportImportRoundTrip() throws {
        let a = dir.appendingPathComponent("a").path, b = dir.appendingPathComponent("b").path
        let keyFile = dir.appendingPathComponent("key.txt").path
        let shown = try run(["identity", "--data-dir", a, "--json"])
        let peerID = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])?["peerId"] as? String)
        XCTAssertEqual(try run(["identity", "export", keyFile, "--data-dir", a]).status, 0)
        let mode = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int)
        XCTAssertEqual(mode, 0o600)
        XCTAssertNotEqual(try run(["identity", "export", keyFile, "--data-dir", a]).status, 0, "no silent overwrite")
        XCTAssertEqual(try run(["identity", "import", keyFile, "--data-dir", b]).status, 0)
        XCTAssertTrue(try run(["identity", "show", "--data-dir", b]).stdout.contains(peerID))
        // A node with its own identity keeps it unless --force.
        let c = dir.appendingPathComponent("c").path
        _ = try run(["identity", "--data-dir", c])
        let refused = try run(["identity", "import", keyFile, "--data-dir", c])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("--force"), refused.stderr)
        XCTAssertFalse(try run(["identity", "--data-dir", c]).stdout.contains(peerID))
        XCTAssertEqual(try run(["identity", "import", "--force", keyFile, "--data-dir", c]).status, 0)
        XCTAssertTrue(try run(["identity", "--data-dir", c]).stdout.contains(peerID))
        // Junk, and the reference's Config.yaml form, and stdin.
        let junk = dir.appendingPathComponent("junk.txt")
        try "not a key\n".write(to: junk, atomically: true, encoding: .utf8)
        XCTAssertEqual(try run(["identity", "import", junk.path, "--data-dir", dir.appendingPathComponent("d").path]).status, 2)
        let hex = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let reference = dir.appendingPathComponent("Config.yaml")
        try "Listen: []\nPrivateKey: \"\(hex)\"\n".write(to: reference, atomically: true, encoding: .utf8)
        XCTAssertEqual(try run(["identity", "import", reference.path, "--data-dir", dir.appendingPathComponent("e").path]).status, 0)
        XCTAssertTrue(try run(["identity", "--data-dir", dir.appendingPathComponent("e").path]).stdout.contains(peerID))
        XCTAssertEqual(try run(["identity", "import", "-", "--data-dir", dir.appendingPathComponent("f").path], stdin: Data(hex.utf8)).status, 0)
        XCTAssertEqual(try run(["identity", "export", "-", "--data-dir", dir.appendingPathComponent("f").path]).stdout, hex + "\n")
    }

    /// Invalid values name the key and the allowed values; unknown keys only warn.
    func testConfigErrorsNameTheKey() throws {
        let bad = dir.appendingPathComponent("bad.yaml")
        try "LogLevel: loud\n".write(to: bad, atomically: true, encoding: .utf8)
        let r = try run(["config", "show", "--config", bad.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("LogLevel") && r.stderr.contains("debug, info, warning, error"), r.stderr)
        let unknown = dir.appendingPathComponent("unknown.yaml")
        try "Colour: purple\nReadTimeout: 12\n".write(to: unknown, atomically: true, encoding: .utf8)
        let u = try run(["config", "show", "--config", unknown.path])
        XCTAssertEqual(u.status, 0, u.stderr)
        XCTAssertTrue(u.stderr.contains("Colour"), u.stderr)
        XCTAssertTrue(u.stdout.contains("ReadTimeout: 12"), u.stdout)
    }

    /// Odd local input (issue 14 item 9): a 0755 data directory is made 0700 and said so; a
    /// key file others can read is warned about; a data directory that is a file, a config
    /// path that is a directory, a YAML alias bomb and an oversized config get a clear error,
    /// never raw Foundation text, and the bomb costs nothing.
    func testPermissionsAndOddLocalInput() throws {
        let data = dir.appendingPathComponent("open")
        XCTAssertEqual(try run(["identity", "--data-dir", data.path]).status, 0)
        XCTAssertEqual(chmod(data.path, 0o755), 0)
        XCTAssertEqual(chmod(data.appendingPathComponent("identity.key").path, 0o644), 0)
        let r = try run(["identity", "--data-dir", data.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("now 0700"), r.stderr)
        XCTAssertTrue(r.stderr.contains("readable by other users") && r.stderr.contains("chmod 600"), r.stderr)
        let mode = (try FileManager.default.attributesOfItem(atPath: data.path)[.posixPermissions] as? NSNumber)?.intValue
        XCTAssertEqual(mode, 0o700)

        let file = dir.appendingPathComponent("afile")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        let f = try run(["identity", "--data-dir", file.path])
        XCTAssertNotEqual(f.status, 0)
        XCTAssertTrue(f.stderr.contains("is a file") && f.stderr.contains("--data-dir"), f.stderr)
        XCTAssertFalse(f.stderr.contains("NSCocoaErrorDomain"), f.stderr)

        let c = try run(["config", "show", "--config", dir.path])
        XCTAssertEqual(c.status, 2)
        XCTAssertTrue(c.stderr.contains("is a directory"), c.stderr)
        XCTAssertFalse(c.stderr.contains("NSCocoaErrorDomain"), c.stderr)

        let bomb = dir.appendingPathComponent("bomb.yaml")
        var text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        for (i, name) in ["b", "c", "d", "e", "f", "g", "h", "i"].enumerated() {
            let prev = i == 0 ? "a" : ["b", "c", "d", "e", "f", "g", "h"][i - 1]
            text += "\(name): &\(name) [" + Array(repeating: "*\(prev)", count: 9).joined(separator: ",") + "]\n"
        }
        try text.write(to: bomb, atomically: true, encoding: .utf8)
        let start = Date()
        let b = try run(["config", "show", "--config", bomb.path])
        XCTAssertEqual(b.status, 2)
        XCTAssertTrue(b.stderr.contains("aliases"), b.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)

        let big = dir.appendingPathComponent("big.yaml")
        try String(repeating: "# comment\n", count: 10_000).write(to: big, atomically: true, encoding: .utf8)
        let g = try run(["config", "show", "--config", big.path])
        XCTAssertEqual(g.status, 2)
        XCTAssertTrue(g.stderr.contains("at most"), g.stderr)
    }

    /// Every command agrees on the identity (PrivateKey in the config first), and read-only
    /// commands create nothing in an unused data directory (issue 16 item 1).
    func testIdentityFollowsTheConfigAndReadOnlyCommandsCreateNothing() throws {
        let data = dir.appendingPathComponent("ro")
        let key = "d65da474861d826edd29c1307f1250d79e9dbf84e3a2449022658445c8d8ed63"
        let config = dir.appendingPathComponent("key.yaml")
        try "PrivateKey: \"\(key)\"\n".write(to: config, atomically: true, encoding: .utf8)
        let r = try run(["identity", "--data-dir", data.path, "--config", config.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("021edde0eba487c55e67088bfc5e9a5c49cf35fef60f61aecba71ce4fe9c2a4feb"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: data.appendingPathComponent("identity.key").path), "no key file made")
        let ls = try run(["ls", "--data-dir", data.path])
        XCTAssertEqual(ls.status, 0, ls.stderr)
        XCTAssertEqual(ls.stdout, "No shared files.\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: data.appendingPathComponent("peernet.sqlite").path), "no database made")
        XCTAssertFalse(FileManager.default.fileExists(atPath: data.appendingPathComponent("identity.key").path))
    }

    func testMissingConfigFileIsAValidationError() throws {
        let r = try run(["identity", "--data-dir", dir.path, "--config", dir.appendingPathComponent("none.yaml").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("configuration file"), r.stderr)
    }
}

/// The fuzz target's replay build: its seeds (valid encodings of every message) must pass the
/// target's codec-symmetry checks, so a broken encoder/decoder pair fails here, not only
/// under libFuzzer.
final class FuzzReplayTests: XCTestCase {
    func testSeedsReplayCleanly() throws {
        let fuzz = CLITests.binary.deletingLastPathComponent().appendingPathComponent("peernet-fuzz")
        guard FileManager.default.isExecutableFile(atPath: fuzz.path) else {
            return XCTFail("build the executables first: swift build")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pn-fuzz-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        func run(_ args: [String]) throws -> Int32 { try runProcess(fuzz, args, timeout: 300).status }
        XCTAssertEqual(try run(["--seeds", dir.path]), 0)
        let seeds = try FileManager.default.contentsOfDirectory(atPath: dir.path).map { dir.appendingPathComponent($0).path }
        XCTAssertGreaterThan(seeds.count, 10)
        XCTAssertEqual(try run(seeds), 0)
    }
}

extension CLITests {
    /// A configuration that keeps a node on loopback: no root peers, no LAN discovery, no UPnP.
    static let loopbackConfig = """
    Listen: ["127.0.0.1:0"]
    SeedList: []
    LocalDiscovery: false
    EnableUPnP: false
    """
}

/// Runs the built `peernet` (without $PEERNET_DATA_DIR from the environment) and returns its
/// exit status and output.
@discardableResult
func runPeernet(_ args: [String], stdin: Data? = nil, env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "PEERNET_DATA_DIR")
    for (k, v) in env { environment[k] = v }
    return try runProcess(CLITests.binary, args, environment: environment, stdin: stdin, timeout: 120)
}

/// Starts the built `peernet` in the background (output appended to `log`, or discarded) and
/// waits up to `timeout` seconds for `readyFile` to appear; the caller checks that it did.
func startPeernet(_ args: [String], readyWhen readyFile: String, timeout: Double, log: URL? = nil, env: [String: String] = [:]) throws -> Process {
    let p = Process()
    p.executableURL = CLITests.binary
    p.arguments = args
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "PEERNET_DATA_DIR")
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    if let log {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: log)
        p.standardError = p.standardOutput
    } else {
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
    }
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline, !isReady(readyFile) { usleep(20_000) }
    return p
}

/// A socket that exists, or a regular file that can be read and is not empty. Existence is not
/// enough for a file in a mount: a dead FUSE mount (its daemon killed) still lists a file whose
/// attributes the kernel cached, until the new daemon replaces the mount; reading it asks the
/// daemon (status files are direct I/O), which only a live mount answers.
func isReady(_ path: String) -> Bool {
    var st = stat()
    guard stat(path, &st) == 0 else { return false }
    guard st.st_mode & S_IFMT == S_IFREG else { return true }
    return FileManager.default.contents(atPath: path).map { !$0.isEmpty } ?? false
}
