import CLinuxCalls
import Foundation
import PeernetBlockchain
import PeernetProtocol
import PeernetSupport
#if canImport(Glibc)
import Glibc
#endif

/// Downloaded content: one sparse file per hash under `<data>/cache/`, plus which fragments
/// are verified (against the Merkle root) in SQLite. Only verified fragments are ever read
/// back; partial downloads resume where they stopped; least recently used files are evicted
/// when the cache grows past its size limit.
public final class DownloadCache: @unchecked Sendable {
    let db: SQLiteDatabase
    public let root: URL
    public var maxBytes: UInt64
    /// Serialises read-modify-write of the verified bitmaps: concurrent fetches of one file
    /// (readers sharing a download, read-ahead) must not lose each other's marks.
    let bitmapLock = NSRecursiveLock()

    public struct Entry: Equatable, Sendable {
        public let hash: Hash256
        public let size: UInt64
        public let fragmentSize: UInt64
        public let merkleRoot: Hash256
        public var verified: [Bool]
        public var tree: MerkleTree?
        public var hasTree = false
        public var isComplete: Bool { verified.allSatisfy { $0 } }
        public var fragmentCount: Int { verified.count }
        public var verifiedBytes: UInt64 {
            var total: UInt64 = 0
            for (i, v) in verified.enumerated() where v { total += min(fragmentSize, size - UInt64(i) * fragmentSize) }
            return total
        }
    }

    init(db: SQLiteDatabase, root: URL, maxBytes: UInt64) throws {
        self.db = db
        self.root = root
        self.maxBytes = maxBytes
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try db.execute("""
        CREATE TABLE IF NOT EXISTS downloads (hash BLOB PRIMARY KEY, size INTEGER NOT NULL, fragment_size INTEGER NOT NULL,
            root BLOB NOT NULL, verified BLOB NOT NULL, tree BLOB, last_access INTEGER NOT NULL) WITHOUT ROWID;
        """)
    }

    public func path(_ hash: Hash256) -> String { root.path + "/" + hash.hex }

    static func pack(_ bits: [Bool]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
        for (i, b) in bits.enumerated() where b { out[i / 8] |= 1 << (i % 8) }
        return out
    }

    static func unpack(_ bytes: [UInt8], count: Int) -> [Bool] {
        (0..<count).map { i in i / 8 < bytes.count && bytes[i / 8] & (1 << (i % 8)) != 0 }
    }

    /// A download's state. `includeTree: false` skips rebuilding the Merkle tree (which hashes
    /// every node: costly per read of a large file); `hasTree` still says whether there is one.
    public func entry(_ hash: Hash256, includeTree: Bool = true) throws -> Entry? {
        let column = includeTree ? "tree" : "tree IS NOT NULL"
        guard let row = try db.query("SELECT size, fragment_size, root, verified, \(column) FROM downloads WHERE hash = ?", [.blob(hash.bytes)]).first
        else { return nil }
        let size = UInt64(bitPattern: row[0].int), fragment = UInt64(bitPattern: row[1].int)
        let count = max(1, Int(MerkleTree.fragmentCount(fileSize: size, fragmentSize: fragment)))
        let tree = !includeTree || row[4].isNull ? nil : try? MerkleTree.importTree(row[4].bytes)
        var e = Entry(hash: hash, size: size, fragmentSize: fragment, merkleRoot: Hash256(row[2].bytes) ?? .zero,
                      verified: Self.unpack(row[3].bytes, count: count), tree: tree)
        e.hasTree = includeTree ? tree != nil : row[4].int != 0
        return e
    }

    /// Starts (or resumes) a download: the sparse file and its state.
    public func prepare(hash: Hash256, size: UInt64, fragmentSize: UInt64, merkleRoot: Hash256) throws -> Entry {
        bitmapLock.lock(); defer { bitmapLock.unlock() }
        if let e = try entry(hash, includeTree: false), e.size == size, FileManager.default.fileExists(atPath: path(hash)) { return e }
        let fd = open(path(hash), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WarehouseError.io(path(hash), String(cString: strerror(errno))) }
        ftruncate(fd, off_t(size))
        close(fd)
        let count = max(1, Int(MerkleTree.fragmentCount(fileSize: size, fragmentSize: fragmentSize)))
        try db.run("INSERT OR REPLACE INTO downloads VALUES (?, ?, ?, ?, ?, NULL, ?)",
                   [.blob(hash.bytes), .integer(Int64(bitPattern: size)), .integer(Int64(bitPattern: fragmentSize)), .blob(merkleRoot.bytes),
                    .blob(Self.pack([Bool](repeating: size == 0, count: count))), .integer(Int64(Date().timeIntervalSince1970))])
        guard let e = try entry(hash, includeTree: false) else { throw WarehouseError.io(path(hash), "removed from the download cache while it was being prepared") }
        return e
    }

    public func setTree(_ hash: Hash256, _ tree: MerkleTree) throws {
        try db.run("UPDATE downloads SET tree = ? WHERE hash = ?", [.blob(tree.export()), .blob(hash.bytes)])
    }

    /// Writes verified fragments without marking them yet (see `commitVerified`).
    public func writeFragment(_ hash: Hash256, index: Int, fragmentSize: UInt64, data: [UInt8]) throws {
        let fd = open(path(hash), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarehouseError.io(path(hash), String(cString: strerror(errno))) }
        defer { close(fd) }
        let written = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(UInt64(index) * fragmentSize)) }
        guard written == data.count else { throw WarehouseError.io(path(hash), "short write") }
    }

    /// Consecutive indices as ranges: [3, 1, 2, 7] -> [1...3, 7...7].
    public static func runs(_ indices: [Int]) -> [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        for i in indices.sorted() {
            if let last = out.last, last.upperBound + 1 >= i { out[out.count - 1] = last.lowerBound...max(last.upperBound, i) } else { out.append(i...i) }
        }
        return out
    }

    /// Makes written fragments durable (fdatasync) and then marks them verified: the marks
    /// never get ahead of the data, and one sync covers a batch of fragments. `dropPages`
    /// then takes the fragments' pages out of the page cache (they are clean once synced), so
    /// the next writes reuse that memory (see `FileDownloader.download`'s `readSoon`).
    public func commitVerified(_ hash: Hash256, indices: [Int], dropPages: Bool = false) throws {
        bitmapLock.lock(); defer { bitmapLock.unlock() }
        guard !indices.isEmpty, var e = try entry(hash, includeTree: false) else { return }
        let fd = open(path(hash), O_WRONLY | O_CLOEXEC)
        if fd >= 0 {
            fdatasync(fd)
            if dropPages { Self.dropPages(fd, e, fragments: indices) }
            close(fd)
        }
        for i in indices where i < e.fragmentCount { e.verified[i] = true }
        try db.run("UPDATE downloads SET verified = ?, last_access = ? WHERE hash = ?",
                   [.blob(Self.pack(e.verified)), .integer(Int64(Date().timeIntervalSince1970)), .blob(hash.bytes)])
    }

    /// Takes fragments' pages out of the page cache, where they are clean (synced); dirty ones
    /// stay. For content whose reader keeps its own copy (see `FileDownloader.readRegion`).
    public func dropPages(_ hash: Hash256, fragments: [Int]) {
        guard !fragments.isEmpty, let e = try? entry(hash, includeTree: false) else { return }
        let fd = open(path(hash), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        Self.dropPages(fd, e, fragments: fragments)
        close(fd)
    }

    static func dropPages(_ fd: Int32, _ e: Entry, fragments: [Int]) {
        for run in runs(fragments.filter { $0 >= 0 && $0 < e.fragmentCount }) {
            // No overflow: fragment indices and sizes come from a validated entry
            // (size ≤ 2^50), and the last run ends at the file's end at most.
            let start = UInt64(run.lowerBound) * e.fragmentSize
            let end = min(e.size, UInt64(run.upperBound + 1) * e.fragmentSize)
            if end > start { _ = posix_fadvise(fd, off_t(start), off_t(end - start), POSIX_FADV_DONTNEED) }
        }
    }

    /// Writes one fragment that the caller verified, and marks it verified (data first, then
    /// the mark: a crash between the two only costs a re-download).
    public func storeVerifiedFragment(_ hash: Hash256, index: Int, data: [UInt8]) throws {
        bitmapLock.lock(); defer { bitmapLock.unlock() }
        guard var e = try entry(hash, includeTree: false), index < e.fragmentCount else { throw WarehouseError.notFound(hash) }
        let fd = open(path(hash), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarehouseError.io(path(hash), String(cString: strerror(errno))) }
        let offset = off_t(UInt64(index) * e.fragmentSize)
        let written = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, offset) }
        fdatasync(fd)
        close(fd)
        guard written == data.count else { throw WarehouseError.io(path(hash), "short write") }
        e.verified[index] = true
        try db.run("UPDATE downloads SET verified = ?, last_access = ? WHERE hash = ?",
                   [.blob(Self.pack(e.verified)), .integer(Int64(Date().timeIntervalSince1970)), .blob(hash.bytes)])
    }

    /// Writes bytes not verified yet (a file whose tree is unknown: it is verified as a whole
    /// with `markAllVerified` once complete).
    public func storeUnverified(_ hash: Hash256, offset: UInt64, data: ArraySlice<UInt8>) throws {
        let fd = open(path(hash), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarehouseError.io(path(hash), String(cString: strerror(errno))) }
        defer { close(fd) }
        let written = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard written == data.count else { throw WarehouseError.io(path(hash), "short write") }
    }

    public func markAllVerified(_ hash: Hash256) throws {
        bitmapLock.lock(); defer { bitmapLock.unlock() }
        guard let e = try entry(hash, includeTree: false) else { return }
        let fd = open(path(hash), O_WRONLY | O_CLOEXEC)
        if fd >= 0 { fdatasync(fd); close(fd) }
        try db.run("UPDATE downloads SET verified = ? WHERE hash = ?", [.blob(Self.pack([Bool](repeating: true, count: e.fragmentCount))), .blob(hash.bytes)])
    }

    /// Reads bytes without consulting the bitmap: for a caller that saw every fragment of the
    /// range verified itself (a fetch verifies and writes fragments before it marks them).
    public func readUnchecked(_ hash: Hash256, offset: UInt64, length: Int) throws -> [UInt8] {
        let fd = open(path(hash), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarehouseError.io(path(hash), String(cString: strerror(errno))) }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: length)
        let got = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(offset)) }
        guard got == length else { throw WarehouseError.io(path(hash), "short read") }
        return out
    }

    /// Reads verified bytes; throws if any part of the range is not verified yet.
    public func read(_ hash: Hash256, offset: UInt64, length: Int) throws -> [UInt8] {
        guard let e = try entry(hash, includeTree: false) else { throw WarehouseError.notFound(hash) }
        let end = min(e.size, offset + UInt64(length))
        guard offset <= e.size else { throw WarehouseError.outOfRange(hash, offset: offset, size: e.size) }
        if end > offset {
            let first = Int(offset / e.fragmentSize), last = Int((end - 1) / e.fragmentSize)
            guard (first...last).allSatisfy({ e.verified[$0] }) else { throw WarehouseError.notFound(hash) }
        }
        let fd = open(path(hash), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarehouseError.notFound(hash) }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: Int(end - offset))
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        _ = try? db.run("UPDATE downloads SET last_access = ? WHERE hash = ?", [.integer(Int64(Date().timeIntervalSince1970)), .blob(hash.bytes)])
        return n == out.count ? out : Array(out.prefix(max(0, n)))
    }

    /// Marks a download as used now (least recently used files are evicted first).
    public func touch(_ hash: Hash256) {
        _ = try? db.run("UPDATE downloads SET last_access = ? WHERE hash = ?", [.integer(Int64(Date().timeIntervalSince1970)), .blob(hash.bytes)])
    }

    public var totalBytes: UInt64 {
        UInt64(bitPattern: (try? db.query("SELECT coalesce(sum(size), 0) FROM downloads").first?.first?.int) ?? 0)
    }

    public func remove(_ hash: Hash256) throws {
        unlink(path(hash))
        try db.run("DELETE FROM downloads WHERE hash = ?", [.blob(hash.bytes)])
    }

    /// Writes a complete, verified download to `output` (what `peernet get` leaves behind):
    /// copied inside the kernel where it can (`FileCopy`), then fsynced and renamed into place, so
    /// `output` is never half written. Refuses content that is not completely verified.
    public func export(_ hash: Hash256, size: UInt64, to output: String) throws {
        guard let e = try entry(hash, includeTree: false), e.size == size, e.isComplete else { throw WarehouseError.notFound(hash) }
        let source = open(path(hash), O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw WarehouseError.notFound(hash) }
        defer { close(source) }
        let temp = output + ".peernet-part"
        let target = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard target >= 0 else { throw WarehouseError.io(temp, String(cString: strerror(errno))) }
        var closed = false
        defer {
            if !closed { close(target); unlink(temp) }
        }
        try FileCopy.copy(from: source, to: target, size: size, sourceLabel: path(hash), targetLabel: temp)
        guard fsync(target) == 0 else { throw WarehouseError.io(temp, String(cString: strerror(errno))) }
        closed = true
        guard close(target) == 0 else { unlink(temp); throw WarehouseError.io(temp, String(cString: strerror(errno))) }
        // rename(2) replaces an existing output atomically.
        guard rename(temp, output) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw WarehouseError.io(output, reason)
        }
        touch(hash)
    }

    /// Moves a complete, verified download out of the cache to `output`, replacing a file there
    /// (`peernet get` of content the cache did not hold before). No copy, and the content is
    /// not on disk twice: a copy and its fsync took a quarter of a 64 MiB `get` (45-63 ms after
    /// a 116-163 ms transfer), CPU that the transfer needs on a small machine. The data is on
    /// disk already (`commitVerified` syncs each batch before marking it). False when `output`
    /// is on another file system: then `export` copies.
    public func moveOut(_ hash: Hash256, size: UInt64, to output: String) throws -> Bool {
        bitmapLock.lock(); defer { bitmapLock.unlock() }
        guard let e = try entry(hash, includeTree: false), e.size == size, e.isComplete else { throw WarehouseError.notFound(hash) }
        // The mode an exported file gets, 0644 under the process's umask (the cache keeps its
        // files private).
        chmod(path(hash), 0o644 & ~ProcessUmask.value)
        guard rename(path(hash), output) == 0 else {
            let code = errno
            chmod(path(hash), 0o600)
            if code == EXDEV { return false }
            throw WarehouseError.io(output, String(cString: strerror(code)))
        }
        try db.run("DELETE FROM downloads WHERE hash = ?", [.blob(hash.bytes)])
        return true
    }

    /// Evicts least recently used files until the cache fits (never `keep`).
    public func evict(keep: Set<Hash256> = []) throws {
        var total = totalBytes
        guard total > maxBytes else { return }
        for row in try db.query("SELECT hash, size FROM downloads ORDER BY last_access") {
            guard total > maxBytes else { break }
            guard let h = Hash256(row[0].bytes), !keep.contains(h) else { continue }
            try remove(h)
            total -= UInt64(bitPattern: row[1].int)
        }
    }
}
