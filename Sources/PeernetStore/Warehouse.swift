import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
#if canImport(Glibc)
import Glibc
#endif

public enum WarehouseError: Error, CustomStringConvertible, Equatable {
    case io(String, String)
    case notFound(Hash256)
    case corruptCompanion(Hash256)
    case outOfRange(Hash256, offset: UInt64, size: UInt64)
    /// A file changed while it was being read (it is hashed again once it is quiet).
    case changed(String)

    public var description: String {
        switch self {
        case .io(let path, let reason): return "\(path): \(reason)"
        case .notFound(let h): return "no content with hash \(h.hex) in the warehouse"
        case .corruptCompanion(let h): return "the Merkle companion of \(h.hex) is corrupt"
        case .outOfRange(let h, let o, let s): return "offset \(o) is beyond the \(s) bytes of \(h.hex)"
        case .changed(let what): return "\(what) changed while it was read"
        }
    }
}

/// The content store of shared files (data.md §5): each file once, under its BLAKE3 hash, at
/// `<root>/<hex 0..4>/<hex 4..8>/<hex 8..64>`, with a `.merkle` companion for files over
/// 256 KiB. Imports stream through a temporary file (hashing the whole file and its fragments
/// on two cores while copying), are fsynced and renamed into place: a file is either complete
/// under its hash or absent. Content that stays in the share folder is a link instead
/// (`_Links/<hash>.link`: path, inode, size and times of the file it is read from).
public final class Warehouse: @unchecked Sendable {
    public let root: URL
    var tempDirectory: URL { root.appendingPathComponent("_Temp") }
    /// Content known to match its hash without reading it again.
    let checked = CheckedContent()

    public struct Imported: Equatable, Sendable {
        public let hash: Hash256
        public let size: UInt64
        public let merkle: MerkleTree
        /// False when identical content was already stored (deduplicated).
        public let isNew: Bool
    }

    public init(root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(at: root.appendingPathComponent("_Temp"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(at: root.appendingPathComponent("_Links"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        // Temporary files are only ever left by a crash: remove them.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tempDirectory.path)) ?? [] {
            try? FileManager.default.removeItem(at: tempDirectory.appendingPathComponent(name))
        }
    }

    public func path(for hash: Hash256) -> String {
        let hex = hash.hex
        let a = hex.index(hex.startIndex, offsetBy: 4), b = hex.index(hex.startIndex, offsetBy: 8)
        return root.path + "/" + hex[..<a] + "/" + hex[a..<b] + "/" + hex[b...]
    }

    /// Links to share-folder files live in one flat folder, `_Links/<hash>.link`: beside the
    /// content (the 4/4/56 layout) each new link of a small file made two folders, and those
    /// mkdirs were half the work of publishing a 10,000-file copy (perf). Links written
    /// before are still read from beside the content (`legacyLinkPath`).
    var linksDirectory: URL { root.appendingPathComponent("_Links") }

    func linkPath(for hash: Hash256) -> String { linksDirectory.path + "/" + hash.hex + ".link" }

    func legacyLinkPath(for hash: Hash256) -> String { path(for: hash) + ".link" }

    /// The link of `hash`, where it is.
    func readLink(_ hash: Hash256) -> ContentLink? {
        ContentLink.read(linkPath(for: hash)) ?? ContentLink.read(legacyLinkPath(for: hash))
    }

    /// Writes the link of `hash` (in the flat folder; a legacy one goes).
    func writeLink(_ link: ContentLink, for hash: Hash256) throws {
        try writeAtomically(link.encoded, to: linkPath(for: hash), sync: false)
        unlink(legacyLinkPath(for: hash))
    }

    func removeLink(_ hash: Hash256) {
        unlink(linkPath(for: hash))
        unlink(legacyLinkPath(for: hash))
    }

    /// Whether the content can be served (stored, or linked and unchanged).
    public func contains(_ hash: Hash256) -> Bool { contentPath(hash) != nil }

    public func size(of hash: Hash256) -> UInt64? {
        guard let p = contentPath(hash) else { return nil }
        var st = stat()
        guard stat(p, &st) == 0 else { return nil }
        return UInt64(st.st_size)
    }

    /// Where the bytes of `hash` can be read: the stored file, or the linked share-folder file
    /// while it is unchanged (nil once it changed or went: it is not offered any more).
    public func contentPath(_ hash: Hash256) -> String? {
        let stored = path(for: hash)
        if access(stored, F_OK) == 0 { return stored }
        guard let link = readLink(hash), link.isCurrent else { return nil }
        return link.pathString
    }

    // MARK: Import

    /// Imports a file by path (or standard input for "-"). `progress` gets bytes copied so far.
    public func importFile(at source: String, progress: ((UInt64) -> Void)? = nil) throws -> Imported {
        let input = source == "-" ? dup(0) : open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw WarehouseError.io(source, String(cString: strerror(errno))) }
        defer { close(input) }
        var st = stat()
        if fstat(input, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { throw WarehouseError.io(source, "is a directory") }
        let expected = (st.st_mode & S_IFMT) == S_IFREG ? UInt64(st.st_size) : nil
        return try importStream(input, expectedSize: expected, label: source, progress: progress)
    }

    /// Imports an open regular file (read from its start; the descriptor stays open). Used by
    /// the share-folder publisher, whose paths are bytes that need not be UTF-8.
    public func importFile(descriptor: Int32, label: String) throws -> Imported {
        var st = stat()
        guard fstat(descriptor, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw WarehouseError.io(label, "not a regular file") }
        guard lseek(descriptor, 0, SEEK_SET) == 0 else { throw WarehouseError.io(label, String(cString: strerror(errno))) }
        return try importStream(descriptor, expectedSize: UInt64(st.st_size), label: label, progress: nil)
    }

    /// Records an open regular file of the share folder as the content of its hash without
    /// copying it: the warehouse keeps a link (path and signature) and serves the file from
    /// where it is, for as long as it is unchanged (content is stored once). `path` is the
    /// file's absolute path as bytes.
    public func importLinked(descriptor: Int32, path: [UInt8], label: String) throws -> Imported {
        var st = stat()
        guard fstat(descriptor, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw WarehouseError.io(label, "not a regular file") }
        guard lseek(descriptor, 0, SEEK_SET) == 0 else { throw WarehouseError.io(label, String(cString: strerror(errno))) }
        let began = Date().timeIntervalSince1970
        let imported = try importStream(descriptor, expectedSize: UInt64(st.st_size), label: label, progress: nil,
                                        link: ContentLink(path: path, st))
        // The import read every byte and hashed it: that is the check a first serve would
        // make, when the file kept one version throughout and that version's change time was
        // over 2 s old when the hashing began (CheckedContent's rule: a write in the same
        // clock tick could leave the version looking the same). Without it, the first serve of
        // every share-folder file hashed it again: a first `peernet get` of a 64 MiB file took
        // 0.28-0.36 s, a second one 0.21-0.26 s.
        var after = stat()
        let version = FileVersion(st)
        if fstat(descriptor, &after) == 0, FileVersion(after) == version, began - Double(version.ctimeNs) / 1e9 >= 2 {
            checked.remember(imported.hash, version, settled: true)
        }
        return imported
    }

    /// A new empty file in the warehouse's temp folder (the same file system as the store) for
    /// content that arrives in pieces (a web API upload); `adopt` then stores it without a copy.
    public func makeIncomingFile() throws -> (path: String, descriptor: Int32) {
        let path = tempDirectory.path + "/incoming-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WarehouseError.io(path, String(cString: strerror(errno))) }
        return (path, fd)
    }

    /// Stores a complete file of `makeIncomingFile` under its hash by renaming it into place
    /// (hashed, fsynced, never copied). The file is gone afterwards, stored or not.
    public func adopt(incoming path: String, label: String) throws -> Imported {
        defer { unlink(path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarehouseError.io(label, String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw WarehouseError.io(label, "not a regular file") }
        return try importStream(fd, expectedSize: UInt64(st.st_size), label: label, progress: nil, adopt: path)
    }

    /// A linked share-folder file was renamed: the link follows it when the file at `path` is
    /// the same inode with the same size and modification time (a rename changes only the
    /// change time). False when there is no link or the file is not the one linked.
    @discardableResult
    public func relink(_ hash: Hash256, to path: [UInt8]) -> Bool {
        guard let link = readLink(hash) else { return false }
        var st = stat()
        let rc = (path + [0]).withUnsafeBufferPointer { $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: path.count + 1) { lstat($0, &st) } }
        guard rc == 0, (st.st_mode & S_IFMT) == S_IFREG, UInt64(st.st_dev) == link.device, UInt64(st.st_ino) == link.inode,
              UInt64(st.st_size) == link.size,
              Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec) == link.modifiedNs else { return false }
        return (try? writeLink(ContentLink(path: path, st), for: hash)) != nil
    }

    /// Links content to another share-folder file known to hold it (the publisher hashed it and
    /// it is unchanged since): used when the file the link named went and a copy remains.
    @discardableResult
    public func linkCopy(_ hash: Hash256, at path: [UInt8]) -> Bool {
        var st = stat()
        let rc = (path + [0]).withUnsafeBufferPointer { $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: path.count + 1) { lstat($0, &st) } }
        guard rc == 0, (st.st_mode & S_IFMT) == S_IFREG, access(self.path(for: hash), F_OK) != 0 else { return false }
        return (try? writeLink(ContentLink(path: path, st), for: hash)) != nil
    }

    /// Imports bytes held in memory.
    public func importData(_ data: [UInt8]) throws -> Imported {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw WarehouseError.io("pipe", String(cString: strerror(errno))) }
        let writeEnd = fds[1]
        let writer = Thread {
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(writeEnd, raw.baseAddress! + offset, raw.count - offset)
                    if n <= 0 { break }
                    offset += n
                }
            }
            close(writeEnd)
        }
        writer.start()
        defer { close(fds[0]) }
        return try importStream(fds[0], expectedSize: UInt64(data.count), label: "data", progress: nil)
    }

    /// `link`: the bytes stay where they are (a share-folder file). `adopt`: the input is a
    /// complete file in the temp folder, renamed into place once hashed.
    private func importStream(_ input: Int32, expectedSize: UInt64?, label: String, progress: ((UInt64) -> Void)?,
                              link: ContentLink? = nil, adopt: String? = nil) throws -> Imported {
        let tempPath = adopt ?? tempDirectory.path + "/import-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let readOnly = link != nil || adopt != nil
        // Linked or adopted content is only read (hashed): nothing is copied.
        let out = readOnly ? open("/dev/null", O_WRONLY | O_CLOEXEC) : open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw WarehouseError.io(tempPath, String(cString: strerror(errno))) }
        var keepTemp = false
        defer { if !keepTemp { unlink(tempPath) } }

        let guessedFragment = MerkleTree.fragmentSize(forFileSize: expectedSize ?? 0)
        var whole = BLAKE3()
        var leaves = MerkleLeafHasher(fragmentSize: guessedFragment)
        // A small file gets a small buffer: 4 MiB for a 15-byte file was an mmap and munmap
        // per import (a 10,000-file copy publishes 10,000 of them).
        let chunk = min(4 << 20, max(64 << 10, Int(min(expectedSize ?? .max, UInt64(4 << 20))) + 1))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var total: UInt64 = 0
        while true {
            let n = Glibc.read(input, buffer.baseAddress!, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                close(out)
                throw WarehouseError.io(label, String(cString: strerror(errno)))
            }
            if n == 0 { break }
            nonisolated(unsafe) let slice = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            // Whole-file hash and fragment hashes on two cores while the data is in cache.
            // (A chunk under 1 MiB is hashed on this thread: waking a second one cost more
            // than the hashing, for small files, perf.)
            if n < 1 << 20 {
                whole.update(slice)
                leaves.update(slice)
            } else {
                nonisolated(unsafe) var w = whole
                nonisolated(unsafe) var l = leaves
                DispatchQueue.concurrentPerform(iterations: 2) { i in
                    if i == 0 { w.update(slice) } else { l.update(slice) }
                }
                whole = w
                leaves = l
            }
            var written = readOnly ? n : 0
            while written < n {
                let m = write(out, buffer.baseAddress! + written, n - written)
                if m < 0 {
                    if errno == EINTR { continue }
                    let reason = String(cString: strerror(errno))
                    close(out)
                    throw WarehouseError.io(tempPath, reason)
                }
                written += m
            }
            total += UInt64(n)
            progress?(total)
        }
        guard link != nil || fsync(adopt == nil ? out : input) == 0 else {
            close(out)
            throw WarehouseError.io(tempPath, String(cString: strerror(errno)))
        }
        close(out)
        CrashPoint.hit("warehouse-temp-written")

        if let link, total != link.size { throw WarehouseError.changed(label) }
        let hash = Hash256(whole.finalize())!
        let fragment = MerkleTree.fragmentSize(forFileSize: total)
        var leafHashes = leaves.finish()
        if fragment != guessedFragment {
            // The size differed from what stat said (a growing file): hash the fragments again.
            leafHashes = try Self.leafHashes(ofFile: tempPath, fragmentSize: fragment)
        }
        let tree = MerkleTree(fileSize: total, fragmentSize: fragment, fragmentHashes: leafHashes, fileHash: hash)

        let target = path(for: hash)
        if FileManager.default.fileExists(atPath: target) {
            return Imported(hash: hash, size: total, merkle: tree, isNew: false)
        }
        let directory = (target as NSString).deletingLastPathComponent
        if link == nil || tree.fragmentCount >= 2 {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        // The companion goes first: content without its companion is never visible.
        if tree.fragmentCount >= 2 {
            try writeAtomically(tree.export(), to: target + ".merkle")
        }
        CrashPoint.hit("warehouse-companion-written")
        if let link {
            // Not fsynced: a link lost in a crash only means the file is hashed again (the
            // publisher checks every published file's content at its first pass), and 10,000
            // fsyncs made publishing a 10,000-file copy take 13 s.
            try writeLink(link, for: hash)
            CrashPoint.hit("warehouse-renamed")
            return Imported(hash: hash, size: total, merkle: tree, isNew: true)
        }
        guard rename(tempPath, target) == 0 else { throw WarehouseError.io(target, String(cString: strerror(errno))) }
        keepTemp = true
        syncDirectory(directory)
        // Our own file, hashed as it was written: known good as long as it stays as it is.
        if let version = FileVersion(path: target) { checked.remember(hash, version, settled: true) }
        CrashPoint.hit("warehouse-renamed")
        return Imported(hash: hash, size: total, merkle: tree, isNew: true)
    }

    static func leafHashes(ofFile path: String, fragmentSize: UInt64) throws -> [Hash256] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarehouseError.io(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var leaves = MerkleLeafHasher(fragmentSize: fragmentSize)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, buffer.count)
            if n <= 0 { break }
            leaves.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return leaves.finish()
    }

    func writeAtomically(_ bytes: [UInt8], to path: String, sync: Bool = true) throws {
        let temp = tempDirectory.path + "/companion-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WarehouseError.io(temp, String(cString: strerror(errno))) }
        let ok = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) == $0.count }
        if sync { fsync(fd) }
        close(fd)
        guard ok, rename(temp, path) == 0 else {
            unlink(temp)
            throw WarehouseError.io(path, "cannot write the Merkle companion")
        }
    }

    func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    // MARK: Reading

    /// Reads `length` bytes at `offset` (fewer at the end of the file).
    public func read(_ hash: Hash256, offset: UInt64, length: Int) throws -> [UInt8] {
        guard let source = contentPath(hash) else { throw WarehouseError.notFound(hash) }
        let fd = open(source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarehouseError.notFound(hash) }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        // A linked file replaced between the check and the open is not served.
        if source != path(for: hash), let link = readLink(hash), !link.matches(st) {
            throw WarehouseError.notFound(hash)
        }
        let size = UInt64(st.st_size)
        guard offset <= size else { throw WarehouseError.outOfRange(hash, offset: offset, size: size) }
        let n = Int(min(UInt64(length), size - offset))
        // Not zeroed first: pread fills it (a served transfer reads 1 MiB at a time).
        return [UInt8](unsafeUninitializedCapacity: n) { buffer, count in
            var done = 0
            while done < n {
                let m = pread(fd, buffer.baseAddress! + done, n - done, off_t(offset) + off_t(done))
                if m <= 0 { if m < 0 && errno == EINTR { continue }; break }
                done += m
            }
            count = done
        }
    }

    /// The Merkle tree of stored content: its companion, or (up to 256 KiB) the file hash.
    public func merkleTree(_ hash: Hash256) throws -> MerkleTree {
        guard let size = size(of: hash) else { throw WarehouseError.notFound(hash) }
        let fragment = MerkleTree.fragmentSize(forFileSize: size)
        if MerkleTree.fragmentCount(fileSize: size, fragmentSize: fragment) < 2 {
            return MerkleTree(fileSize: size, fragmentSize: fragment, fragmentHashes: [], fileHash: hash)
        }
        guard let data = FileManager.default.contents(atPath: path(for: hash) + ".merkle"),
              let tree = try? MerkleTree.importTree([UInt8](data)), tree.fileSize == size else {
            throw WarehouseError.corruptCompanion(hash)
        }
        return tree
    }

    /// Stops offering content found damaged (its bytes no longer match its hash): a stored
    /// copy is renamed `<hash>.damaged` and kept for inspection, a link to a share-folder file
    /// is dropped (the file is the user's). Returns what was done, for the log.
    @discardableResult
    public func quarantine(_ hash: Hash256) -> String {
        checked.forget(hash)
        let p = path(for: hash)
        if access(p, F_OK) == 0 {
            return rename(p, p + ".damaged") == 0 ? "moved aside to \(p).damaged" : "could not be moved aside: \(String(cString: strerror(errno)))"
        }
        if let link = readLink(hash) {
            removeLink(hash)
            return "no longer served from \(link.pathString)"
        }
        return "not stored any more"
    }

    // MARK: Deleting

    /// Removes content and its companion.
    public func delete(_ hash: Hash256) {
        checked.forget(hash)
        let p = path(for: hash)
        unlink(p)
        unlink(p + ".merkle")
        removeLink(hash)
        // Drop the two directory levels when they became empty (rmdir refuses otherwise).
        let level2 = (p as NSString).deletingLastPathComponent
        rmdir(level2)
        rmdir((level2 as NSString).deletingLastPathComponent)
    }

    /// Every stored hash (walking the 4/4/56 layout, ignoring anything else).
    public func allHashes() -> [Hash256] {
        let fm = FileManager.default
        var out: [Hash256] = []
        for a in (try? fm.contentsOfDirectory(atPath: root.path)) ?? [] where a.count == 4 {
            for b in (try? fm.contentsOfDirectory(atPath: root.path + "/" + a)) ?? [] where b.count == 4 {
                for c in (try? fm.contentsOfDirectory(atPath: root.path + "/" + a + "/" + b)) ?? [] where c.count == 56 || c.hasSuffix(".link") {
                    if let h = Hash256(hex: a + b + String(c.prefix(56))) { out.append(h) }
                }
            }
        }
        for name in (try? fm.contentsOfDirectory(atPath: linksDirectory.path)) ?? [] where name.hasSuffix(".link") {
            if let h = Hash256(hex: String(name.prefix(64))) { out.append(h) }
        }
        return Array(Set(out))
    }

    /// Deletes content no record refers to (left by a crash between import and commit), and
    /// Merkle companions whose content is gone.
    @discardableResult
    public func collectGarbage(keep: Set<Hash256>) -> Int {
        let fm = FileManager.default
        var removed = 0
        for a in (try? fm.contentsOfDirectory(atPath: root.path)) ?? [] where a.count == 4 {
            for b in (try? fm.contentsOfDirectory(atPath: root.path + "/" + a)) ?? [] where b.count == 4 {
                for c in (try? fm.contentsOfDirectory(atPath: root.path + "/" + a + "/" + b)) ?? [] where c.count >= 56 {
                    guard let hash = Hash256(hex: a + b + String(c.prefix(56))) else { continue }
                    let isContent = c.count == 56 || c.hasSuffix(".link")
                    if !keep.contains(hash) || (!isContent && !contains(hash) && readLink(hash) == nil) {
                        if isContent { removed += 1 }
                        delete(hash)
                    }
                }
            }
        }
        for name in (try? fm.contentsOfDirectory(atPath: linksDirectory.path)) ?? [] where name.hasSuffix(".link") {
            guard let hash = Hash256(hex: String(name.prefix(64))), !keep.contains(hash) else { continue }
            removed += 1
            delete(hash)
        }
        return removed
    }
}

/// A warehouse entry that points at a file of the share folder instead of holding a copy: its
/// absolute path and the signature it had when it was hashed (device, inode, size, modification
/// and change times). Any change, including an in-place rewrite that restores the old mtime
/// (rsync --inplace -t), changes the change time, and the content is no longer served.
struct ContentLink: Equatable {
    let path: [UInt8]
    let device: UInt64, inode: UInt64, size: UInt64
    let modifiedNs: Int64, changedNs: Int64

    init(path: [UInt8], _ st: stat) {
        self.path = path
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = UInt64(st.st_size)
        modifiedNs = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        changedNs = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }

    init?(path: [UInt8], fields: [Substring]) {
        guard fields.count == 5, let d = UInt64(fields[0]), let i = UInt64(fields[1]), let s = UInt64(fields[2]),
              let m = Int64(fields[3]), let c = Int64(fields[4]) else { return nil }
        self.path = path
        device = d; inode = i; size = s; modifiedNs = m; changedNs = c
    }

    /// "device inode size mtime ctime\n" then the path bytes.
    var encoded: [UInt8] { Array("\(device) \(inode) \(size) \(modifiedNs) \(changedNs)\n".utf8) + path }

    static func read(_ file: String) -> ContentLink? {
        guard let data = FileManager.default.contents(atPath: file), let newline = data.firstIndex(of: 10) else { return nil }
        let header = String(decoding: data[..<newline], as: UTF8.self)
        return ContentLink(path: Array(data[(newline + 1)...]), fields: header.split(separator: " "))
    }

    var pathString: String { String(decoding: path, as: UTF8.self) }

    func matches(_ st: stat) -> Bool { ContentLink(path: path, st) == self }

    /// The file is still there, unchanged.
    var isCurrent: Bool {
        var st = stat()
        let rc = (path + [0]).withUnsafeBufferPointer { $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: path.count + 1) { lstat($0, &st) } }
        return rc == 0 && (st.st_mode & S_IFMT) == S_IFREG && matches(st)
    }
}
