import Foundation
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
}
