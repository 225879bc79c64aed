import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
@testable import PeernetStore
import XCTest

final class DownloadCacheTests: XCTestCase {
    /// `peernet get`'s output: only a completely verified download leaves the cache, equal to
    /// the content, through copy_file_range on one file system and the read/write loop across
    /// two (ext4 -> tmpfs: EXDEV); an existing output is replaced whole, and no temporary file
    /// is left behind either way.
    func testExportCopiesOnlyCompleteVerifiedContent() throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data.url) }
        let store = try LocalStore(dataDirectory: data, key: PrivateKey())
        let cache = store.downloads
        let content = (0..<(5 * 262_144 + 777)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ ($0 >> 11)) }
        let tree = MerkleTree(data: content)
        let hash = Hash256.blake3(content)
        let fs = MerkleTree.fragmentSize(forFileSize: UInt64(content.count))
        let entry = try cache.prepare(hash: hash, size: UInt64(content.count), fragmentSize: fs, merkleRoot: tree.root)
        let output = data.url.appendingPathComponent("got.bin").path
        for i in 0..<entry.fragmentCount {
            let start = i * Int(fs)
            try cache.writeFragment(hash, index: i, fragmentSize: fs, data: Array(content[start..<min(content.count, start + Int(fs))]))
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
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data.url) }
        let store = try LocalStore(dataDirectory: data, key: PrivateKey())
        let cache = store.downloads
        let content = (0..<(3 * 262_144 + 99)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ ($0 >> 9)) }
        let tree = MerkleTree(data: content)
        let hash = Hash256.blake3(content)
        let fs = MerkleTree.fragmentSize(forFileSize: UInt64(content.count))
        let entry = try cache.prepare(hash: hash, size: UInt64(content.count), fragmentSize: fs, merkleRoot: tree.root)
        for i in 0..<entry.fragmentCount {
            let start = i * Int(fs)
            try cache.writeFragment(hash, index: i, fragmentSize: fs, data: Array(content[start..<min(content.count, start + Int(fs))]))
        }
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
        XCTAssertEqual(st.st_mode & 0o777, 0o644)
        XCTAssertNil(try cache.entry(hash, includeTree: false))
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.path(hash)))
        XCTAssertThrowsError(try cache.export(hash, size: UInt64(content.count), to: shm), "moved out: no longer cached")
    }
}
