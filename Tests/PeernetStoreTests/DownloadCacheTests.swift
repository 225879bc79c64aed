import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetSupport
@testable import PeernetStore
import TestSupport
import XCTest

final class DownloadCacheTests: XCTestCase {
    /// `peernet get`'s output: only a completely verified download leaves the cache, equal to
    /// the content, through copy_file_range on one file system and the read/write loop across
    /// two (ext4 -> tmpfs: EXDEV); an existing output is replaced whole, and no temporary file
    /// is left behind either way.
    func testExportCopiesOnlyCompleteVerifiedContent() throws {
        let d = try PreparedDownload((0..<(5 * 262_144 + 777)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ ($0 >> 11)) }, for: self)
        defer { try? FileManager.default.removeItem(at: d.data.url) }
        let (data, cache, content, hash, entry) = (d.data, d.cache, d.content, d.hash, d.entry)
        let output = data.url.appendingPathComponent("got.bin").path
        for i in 0..<entry.fragmentCount {
            try d.write(i)
            if i < entry.fragmentCount - 1 { try cache.commitVerified(hash, indices: [i]) }
        }
        XCTAssertThrowsError(try cache.export(hash, size: UInt64(content.count), to: output), "one fragment is not verified yet")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        XCTAssertFalse(FileManager.default.fileExists(atPath: output + ".peernet-part"))
        try cache.commitVerified(hash, indices: [entry.fragmentCount - 1])
        XCTAssertThrowsError(try cache.export(hash, size: 5, to: output), "the size must be the record's")

        try Data("an older file, longer than nothing".utf8).write(to: URL(fileURLWithPath: output))
        try cache.export(hash, size: UInt64(content.count), to: output)
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: output))), content)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output + ".peernet-part"))

        let shm = "/dev/shm/pn-export-\(UUID().uuidString.prefix(8)).bin"
        defer { unlink(shm) }
        try cache.export(hash, size: UInt64(content.count), to: shm)
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: shm))), content, "across file systems")
        XCTAssertThrowsError(try cache.export(hash, size: UInt64(content.count), to: data.url.path + "/no/such/dir/x"))
    }

    /// A new download leaves the cache by rename: the output is the content (0644, replacing a
    /// file there), and the cache no longer has it. Across file systems (EXDEV) nothing moves,
    /// and the cache keeps it, private, for `export` to copy. Incomplete content never moves.
    func testMoveOutRenamesCompleteContentWithinOneFileSystem() throws {
        let d = try PreparedDownload((0..<(3 * 262_144 + 99)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ ($0 >> 9)) }, for: self)
        defer { try? FileManager.default.removeItem(at: d.data.url) }
        let (data, cache, content, hash, entry) = (d.data, d.cache, d.content, d.hash, d.entry)
        for i in 0..<entry.fragmentCount { try d.write(i) }
        let output = data.url.appendingPathComponent("got.bin").path
        XCTAssertThrowsError(try cache.moveOut(hash, size: UInt64(content.count), to: output), "nothing is verified yet")
        XCTAssertTrue(FileManager.default.fileExists(atPath: cache.path(hash)))
        try cache.commitVerified(hash, indices: Array(0..<entry.fragmentCount))

        let shm = "/dev/shm/pn-move-\(UUID().uuidString.prefix(8)).bin"
        defer { unlink(shm) }
        XCTAssertFalse(try cache.moveOut(hash, size: UInt64(content.count), to: shm), "another file system")
        XCTAssertEqual(try cache.entry(hash, includeTree: false)?.isComplete, true)
        var st = stat()
        XCTAssertEqual(stat(cache.path(hash), &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "the cached file stays private")

        try Data("an older file".utf8).write(to: URL(fileURLWithPath: output))
        XCTAssertTrue(try cache.moveOut(hash, size: UInt64(content.count), to: output))
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: output))), content)
        XCTAssertEqual(stat(output, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o644 & ~ProcessUmask.value, "as export makes it: 0644 under the umask")
        // Read from /proc, not by setting it (that would race with every thread making files).
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        XCTAssertTrue(status.contains("Umask:\t" + String(format: "%04o", ProcessUmask.value)), status)
        XCTAssertNil(try cache.entry(hash, includeTree: false))
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.path(hash)))
        XCTAssertThrowsError(try cache.export(hash, size: UInt64(content.count), to: shm), "moved out: no longer cached")
    }

    /// A commit that drops pages leaves the committed fragments durable, marked and out of the
    /// page cache (a download for `peernet get` then reuses its memory); without it they stay
    /// resident. Residency is read with mincore(2) on a fresh mapping, which faults nothing in.
    func testCommitCanDropTheCommittedPagesFromThePageCache() throws {
        let d = try PreparedDownload((0..<(6 * 262_144 + 4_321)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 7)) }, for: self)
        defer { try? FileManager.default.removeItem(at: d.data.url) }
        let (cache, content, hash, entry) = (d.cache, d.content, d.hash, d.entry)
        for i in 0..<entry.fragmentCount { try d.write(i) }
        try cache.commitVerified(hash, indices: [0, 1, 2])
        try cache.commitVerified(hash, indices: [6, 3, 4], dropPages: true)
        func resident(_ fragment: Int) throws -> Int {
            try residentPages(cache.path(hash), offset: fragment * 262_144, length: 262_144)
        }
        for i in [0, 1, 2, 5] { XCTAssertGreaterThan(try resident(i), 0, "fragment \(i) was not dropped") }
        for i in [3, 4, 6] { XCTAssertEqual(try resident(i), 0, "fragment \(i) was dropped") }
        let marked = try XCTUnwrap(try cache.entry(hash, includeTree: false)).verified
        XCTAssertEqual(marked, [true, true, true, true, true, false, true])
        // Dropped later, by fragment (a reader kept its own copy): only those named, and
        // indices outside the file are ignored.
        cache.dropPages(hash, fragments: [1, -1, 7, 1_000])
        XCTAssertEqual(try resident(1), 0, "fragment 1 was dropped")
        for i in [0, 2] { XCTAssertGreaterThan(try resident(i), 0, "fragment \(i) was not dropped") }
        // Still the content, read back from the disk.
        XCTAssertEqual(try cache.readUnchecked(hash, offset: 0, length: content.count), content)
        XCTAssertEqual(DownloadCache.runs([3, 1, 2, 7, 7, 9]), [1...3, 7...7, 9...9])
    }
}

/// `content` prepared in a download cache of its own data directory, nothing written yet.
private struct PreparedDownload {
    let data: DataDirectory
    let store: LocalStore
    let content: [UInt8]
    let hash: Hash256
    let fragmentSize: UInt64
    let entry: DownloadCache.Entry
    var cache: DownloadCache { store.downloads }

    init(_ content: [UInt8], for test: XCTestCase) throws {
        data = try test.temporaryDataDirectory()
        store = try LocalStore(dataDirectory: data, key: PrivateKey())
        self.content = content
        hash = Hash256.blake3(content)
        fragmentSize = MerkleTree.fragmentSize(forFileSize: UInt64(content.count))
        entry = try store.downloads.prepare(hash: hash, size: UInt64(content.count), fragmentSize: fragmentSize,
                                            merkleRoot: MerkleTree(data: content).root)
    }

    /// Writes fragment `i` (its verified bytes; not marked yet).
    func write(_ i: Int) throws {
        let start = i * Int(fragmentSize)
        try cache.writeFragment(hash, index: i, fragmentSize: fragmentSize, data: Array(content[start..<min(content.count, start + Int(fragmentSize))]))
    }
}
