import Foundation
import TestSupport
import XCTest

/// share / ls / unshare / profile as a user runs them, and what a crash in the middle of a
/// share leaves behind: either the complete file and its record, or neither.
final class ShareCLITests: XCTestCase {
    private var dir: URL!
    override func setUpWithError() throws {
        dir = URL(fileURLWithPath: "/tmp/pn-share-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    @discardableResult
    func peernet(_ args: [String], env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        try runPeernet(args, env: env)
    }

    func randomFile(_ name: String, size: Int) throws -> URL {
        let url = dir.appendingPathComponent(name)
        let urandom = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        try urandom.readData(ofLength: size).write(to: url)
        try urandom.close()
        return url
    }

    func listed(_ data: String) throws -> [[String: Any]] {
        let r = try peernet(["ls", "--json", "--data-dir", data])
        XCTAssertEqual(r.status, 0, r.err)
        return try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]] ?? []
    }

    /// Content files in the warehouse (4/4/56 layout) and anything left in _Temp.
    func warehouseState(_ data: String) -> (content: [String], temp: [String]) {
        let root = data + "/warehouse"
        let fm = FileManager.default
        var content: [String] = []
        for a in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where a.count == 4 {
            for b in (try? fm.contentsOfDirectory(atPath: root + "/" + a)) ?? [] {
                for c in (try? fm.contentsOfDirectory(atPath: root + "/" + a + "/" + b)) ?? [] { content.append(a + b + c) }
            }
        }
        // Links to share-folder files: _Links/<hash>.link.
        content += (try? fm.contentsOfDirectory(atPath: root + "/_Links")) ?? []
        return (content, (try? fm.contentsOfDirectory(atPath: root + "/_Temp")) ?? [])
    }

    func testShareListUnshareAndProfile() throws {
        let data = dir.appendingPathComponent("node").path
        let a = try randomFile("notes.txt", size: 100)
        let b = try randomFile("video.mp4", size: 700_000)
        let shared = try peernet(["share", a.path, b.path, "--folder", "Stuff", "--description", "my #things", "--data-dir", data, "--json"])
        XCTAssertEqual(shared.status, 0, shared.err)
        let files = try JSONSerialization.jsonObject(with: Data(shared.out.utf8)) as! [[String: Any]]
        XCTAssertEqual(files.map { $0["name"] as? String }, ["notes.txt", "video.mp4"])
        XCTAssertEqual(files[1]["type"] as? String, "video")
        let hash = try peernet(["hash", b.path]).out.split(separator: " ").first.map(String.init)
        XCTAssertEqual(files[1]["hash"] as? String, hash, "the recorded hash is the content's BLAKE3")
        XCTAssertEqual(try listed(data).count, 2)
        XCTAssertEqual(warehouseState(data).content.count, 3, "two contents and one Merkle companion")
        XCTAssertEqual(try peernet(["ls", "--folder", "Nope", "--data-dir", data, "--json"]).out.contains("notes"), false)
        // Unshare by path of the content, then by ID.
        XCTAssertEqual(try peernet(["unshare", b.path, "--data-dir", data]).status, 0)
        XCTAssertEqual(try listed(data).map { $0["name"] as? String }, ["notes.txt"])
        XCTAssertEqual(warehouseState(data).content.count, 1)
        let id = files[0]["id"] as! String
        XCTAssertEqual(try peernet(["unshare", id, "--data-dir", data]).status, 0)
        XCTAssertEqual(try listed(data).count, 0)
        XCTAssertEqual(warehouseState(data).content.count, 0)
        let missing = try peernet(["unshare", id, "--data-dir", data])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("no shared file"), missing.err)
        // Profile.
        XCTAssertEqual(try peernet(["profile", "set", "name", "Alice Example", "--data-dir", data]).status, 0)
        XCTAssertEqual(try peernet(["profile", "get", "name", "--data-dir", data]).out, "Alice Example\n")
        let bad = try peernet(["profile", "set", "shoesize", "44", "--data-dir", data])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.err.contains("unknown profile field"), bad.err)
        XCTAssertEqual(try peernet(["profile", "delete", "name", "--data-dir", data]).status, 0)
        XCTAssertTrue(try peernet(["profile", "--data-dir", data]).out.contains("empty"))
        XCTAssertNotEqual(try peernet(["share", dir.appendingPathComponent("nothing").path, "--data-dir", data]).status, 0)
    }

    /// The process dies at each step of a share: afterwards the store holds no record and no
    /// content (or, past the commit, both), and no temporary files.
    func testCrashAtEveryStepOfAShareLeavesNothingPartial() throws {
        let file = try randomFile("big.bin", size: 3_000_000)
        for point in ["warehouse-temp-written", "warehouse-companion-written", "warehouse-renamed", "share-before-record",
                      "chain-before-commit"] {
            let data = dir.appendingPathComponent("crash-\(point)").path
            let r = try peernet(["share", file.path, "--data-dir", data], env: ["PEERNET_CRASH_AT": point])
            XCTAssertEqual(r.status, 99, "\(point) was reached: \(r.err)")
            XCTAssertEqual(try listed(data).count, 0, point)
            let state = warehouseState(data)
            XCTAssertEqual(state.content, [], "\(point): no orphan content")
            XCTAssertEqual(state.temp, [], "\(point): no temporary files")
            // The next share works normally.
            XCTAssertEqual(try peernet(["share", file.path, "--data-dir", data]).status, 0)
            XCTAssertEqual(try listed(data).count, 1)
        }
    }

    /// kill -9 at random moments of a larger share: never a record without content.
    func testKillDuringShare() throws {
        let file = try randomFile("large.bin", size: 40_000_000)
        let hash = try peernet(["hash", file.path]).out.split(separator: " ").first.map(String.init)!
        for (i, delay) in [20_000, 80_000, 200_000, 400_000].enumerated() {
            let data = dir.appendingPathComponent("kill\(i)").path
            _ = try peernet(["identity", "--data-dir", data])
            let p = Process()
            p.executableURL = CLITests.binary
            p.arguments = ["share", file.path, "--data-dir", data]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(useconds_t(delay))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let files = try listed(data)
            let state = warehouseState(data)
            XCTAssertEqual(state.temp, [], "kill after \(delay) µs: no temporary files")
            if files.isEmpty {
                XCTAssertEqual(state.content, [], "kill after \(delay) µs: no record, so no content")
            } else {
                XCTAssertEqual(files.first?["hash"] as? String, hash)
                XCTAssertTrue(state.content.contains(hash) || state.content.contains(hash + ".link"), "a record always has its complete content")
            }
        }
    }

    /// Damage to our own chain is found at open and said, with the fix; `peernet repair`
    /// rebuilds it under a new version and the share folder's files are published again. An
    /// empty peernet.sqlite does not pass for a new node (issue 14 item 7).
    func testDamagedChainIsDetectedAndRepaired() throws {
        let data = dir.appendingPathComponent("damaged").path
        let a = try randomFile("one.txt", size: 100), b = try randomFile("two.txt", size: 200)
        XCTAssertEqual(try peernet(["share", a.path, "--data-dir", data]).status, 0)
        XCTAssertEqual(try peernet(["share", b.path, "--data-dir", data]).status, 0)
        XCTAssertEqual(try peernet(["repair", "--check", "--data-dir", data]).status, 0)
        // Flip one byte of block 0 (inside its signed part).
        XCTAssertEqual(sh("sqlite3 \(data)/peernet.sqlite \"UPDATE chain_blocks SET raw = substr(raw, 1, 120) || X'EE' || substr(raw, 122) WHERE number = 0\"").status, 0)
        let warned = try peernet(["ls", "--data-dir", data])
        XCTAssertTrue(warned.err.contains("damaged") && warned.err.contains("peernet repair"), warned.err)
        let check = try peernet(["repair", "--check", "--data-dir", data])
        XCTAssertEqual(check.status, 1)
        XCTAssertTrue(check.out.contains("block 0"), check.out)
        let repair = try peernet(["repair", "--data-dir", data])
        XCTAssertEqual(repair.status, 0, repair.err)
        XCTAssertTrue(repair.out.contains("Rebuilt"), repair.out)
        XCTAssertEqual(try peernet(["repair", "--check", "--data-dir", data]).status, 0)
        // The next pass (here: another share, with no settle time) publishes the file whose
        // record was lost.
        let quick = dir.appendingPathComponent("quick.yaml")
        try "PublishDelay: 0\n".write(to: quick, atomically: true, encoding: .utf8)
        XCTAssertEqual(try peernet(["share", try randomFile("three.txt", size: 50).path, "--data-dir", data, "--config", quick.path]).status, 0)
        XCTAssertEqual(Set(try listed(data).compactMap { $0["name"] as? String }), ["one.txt", "two.txt", "three.txt"])

        // An empty database: said, and the new chain starts above any old version.
        let fresh = dir.appendingPathComponent("emptied").path
        XCTAssertEqual(try peernet(["share", a.path, "--data-dir", fresh]).status, 0)
        XCTAssertEqual(sh("rm -f \(fresh)/peernet.sqlite-wal \(fresh)/peernet.sqlite-shm && : > \(fresh)/peernet.sqlite").status, 0)
        let after = try peernet(["ls", "--data-dir", fresh])
        XCTAssertTrue(after.err.contains("peernet.sqlite was empty"), after.err)
        let version = sh("sqlite3 \(fresh)/peernet.sqlite 'SELECT 1 FROM chain_header'").status
        XCTAssertEqual(version, 0)
    }
}
