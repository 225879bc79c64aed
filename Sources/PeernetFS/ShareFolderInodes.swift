import Foundation
import PeernetStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Linux flags Swift's Glibc module leaves out (they need _GNU_SOURCE); the values are the
/// kernel's ABI.
let O_PATH: Int32 = 0o10000000
let AT_EMPTY_PATH: Int32 = 0x1000
let UTIME_NOW = (1 << 30) - 1
let UTIME_OMIT = (1 << 30) - 2

/// The inodes of me/, the share folder, as the kernel knows them. A folder holds an `O_PATH`
/// descriptor of its backing directory (libfuse's passthrough_ll does this for every inode): a
/// rename, also of a parent folder, moves nothing here. A file holds its folder and name
/// instead, and is opened by them when an operation needs it (checked to be the same inode):
/// one descriptor per file the kernel caches ran out of descriptors at 20,000 files (EMFILE)
/// in the drive benchmark. An entry lives while the kernel's lookup count is above zero and
/// goes with `forget`, so the table never outgrows what the kernel caches.
///
/// Node numbers are the backing inode numbers with the top bit set: stable across remounts and
/// forgets (vim and rsync compare them) and never equal to the small numbers of the other
/// directories.
final class ShareFolderInodes: @unchecked Sendable {
    static let localBit: UInt64 = 1 << 63
    /// Keys of files on another file system mounted inside the share folder (rare).
    static let foreignBit: UInt64 = 1 << 62

    struct Entry {
        /// The folder's descriptor (folders only; -1 for everything else).
        var fd: Int32
        /// Where a non-folder is: its folder's key and its name (bytes, no NUL).
        var parent: UInt64
        var name: [CChar]
        var lookups: UInt64
    }

    let path: String
    /// The share folder itself, open for the life of the mount (never forgotten).
    let rootFD: Int32
    let rootKey: UInt64
    let rootDevice: UInt64
    private let table = Mutex<(entries: [UInt64: Entry], foreign: [String: UInt64], next: UInt64)>(([:], [:], 1))

    init(path: String) throws {
        self.path = path
        rootFD = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw FSError(errno: errno) }
        var st = Glibc.stat()
        guard fstat(rootFD, &st) == 0 else { throw FSError(errno: errno) }
        rootDevice = UInt64(st.st_dev)
        rootKey = UInt64(st.st_ino)
        Self.raiseDescriptorLimit()
    }

    deinit {
        close(rootFD)
        for e in table.withLock({ Array($0.entries.values) }) where e.fd >= 0 { close(e.fd) }
    }

    /// Folders hold descriptors: the soft limit goes up to the hard one.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    func key(device: UInt64, inode: UInt64) -> UInt64 {
        if device == rootDevice { return inode & ~(Self.localBit | Self.foreignBit) }
        return table.withLock { t in
            let k = "\(device):\(inode)"
            if let known = t.foreign[k] { return known }
            let key = Self.foreignBit | t.next
            t.next += 1
            t.foreign[k] = key
            return key
        }
    }

    /// Whether the kernel may use this node.
    func exists(_ key: UInt64) -> Bool { key == rootKey || table.withLock { $0.entries[key] != nil } }

    /// The descriptor of a folder node (the root's for the root); nil for anything else.
    func directoryFD(_ key: UInt64) -> Int32? {
        if key == rootKey { return rootFD }
        return table.withLock { t in t.entries[key].flatMap { $0.fd >= 0 ? $0.fd : nil } }
    }

    /// Runs `body` with an `O_PATH` descriptor of the node: a folder's own, or a file opened
    /// by its folder and name for the call (ESTALE when that name now holds another inode).
    func withNode<T>(_ key: UInt64, _ body: (Int32) throws -> T) throws -> T {
        if let dir = directoryFD(key) { return try body(dir) }
        guard let (parent, name) = table.withLock({ t in t.entries[key].map { ($0.parent, $0.name) } }),
              let dir = directoryFD(parent) else { throw FSError.notFound }
        let fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw FSError(errno: errno == ENOENT ? ESTALE : errno) }
        defer { close(fd) }
        var st = Glibc.stat()
        guard fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 else { throw FSError(errno: errno) }
        guard self.key(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) == key else { throw FSError(errno: ESTALE) }
        return try body(fd)
    }

    /// Looks `name` up in the folder `parent` and counts one kernel lookup of the result.
    func lookup(parent: UInt64, name: UnsafePointer<CChar>) throws -> (key: UInt64, stat: Glibc.stat) {
        guard let dir = directoryFD(parent) else { throw FSError.notFound }
        // A stat by name; only a folder is opened (folders hold a descriptor, files do not):
        // one call per file instead of three (open, stat, close), which READDIRPLUS makes for
        // every entry of a listing.
        var st = Glibc.stat()
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw FSError(errno: errno) }
        var fd: Int32 = -1
        if st.st_mode & S_IFMT == S_IFDIR {
            fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw FSError(errno: errno) }
            // The name may have been replaced between the two calls: the descriptor's own
            // status is what the entry describes.
            guard fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 else {
                let e = errno
                close(fd)
                throw FSError(errno: e)
            }
        }
        return (found(parent: parent, name: name, stat: st, fd: fd), st)
    }

    /// Counts one kernel lookup of what `stat` describes, found as `name` in `parent`; `fd`:
    /// an O_PATH descriptor of it if it is a folder (kept; -1 otherwise). Its key.
    func found(parent: UInt64, name: UnsafePointer<CChar>, stat st: Glibc.stat, fd: Int32 = -1) -> UInt64 {
        let key = self.key(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        // Only a folder other than the root keeps its descriptor.
        let kept: Int32 = key != rootKey && st.st_mode & S_IFMT == S_IFDIR ? fd : -1
        if fd >= 0 && kept < 0 { close(fd) }
        if key == rootKey { return key }
        let nameBytes = Array(UnsafeBufferPointer(start: name, count: strlen(name) + 1))
        let extra: Int32? = table.withLock { t in
            if var e = t.entries[key] {
                e.lookups += 1
                // The name it was found by now (a file renamed outside the drive, a hard link).
                e.parent = parent
                e.name = nameBytes
                // The inode number of a removed file, taken by a new folder before the kernel
                // forgot the file (ext4 hands a freed number out again at once): the entry is
                // now that folder's and keeps its descriptor. (Kept as a file's, the folder had
                // none: creating in it failed with ENOENT, listing it with ENOTDIR; seen in
                // CPython's test_os, whose TESTFN is a file in one test and a folder in the
                // next.) A folder's number cannot be reused while its descriptor holds it.
                if e.fd < 0 && kept >= 0 {
                    e.fd = kept
                    t.entries[key] = e
                    return nil
                }
                t.entries[key] = e
                return kept
            }
            t.entries[key] = Entry(fd: kept, parent: parent, name: nameBytes, lookups: 1)
            return nil
        }
        if let extra, extra >= 0 { close(extra) }
        return key
    }

    /// A rename through the drive: the file that was at (parent, name) is now at (newParent, newName).
    func renamed(from parent: UInt64, _ name: UnsafePointer<CChar>, to newParent: UInt64, _ newName: UnsafePointer<CChar>) {
        let old = Array(UnsafeBufferPointer(start: name, count: strlen(name) + 1))
        let new = Array(UnsafeBufferPointer(start: newName, count: strlen(newName) + 1))
        table.withLock { t in
            for (key, var e) in t.entries where e.fd < 0 && e.parent == parent && e.name == old {
                e.parent = newParent
                e.name = new
                t.entries[key] = e
            }
        }
    }

    /// The kernel dropped `count` lookups of a node.
    func forget(_ key: UInt64, _ count: UInt64) {
        let closing: Int32? = table.withLock { t in
            guard var e = t.entries[key] else { return nil }
            e.lookups = e.lookups > count ? e.lookups - count : 0
            if e.lookups == 0 {
                t.entries[key] = nil
                return e.fd >= 0 ? e.fd : nil
            }
            t.entries[key] = e
            return nil
        }
        if let closing { close(closing) }
    }

    /// Live entries, and how many hold a descriptor (tests: the table follows the kernel).
    var count: Int { table.withLock { $0.entries.count } }
    var descriptors: Int { table.withLock { $0.entries.values.filter { $0.fd >= 0 }.count } }

    /// A node's stat: one `fstatat` (getattr is the most frequent call; a file's is taken by
    /// folder and name, checked to be the same inode, without opening it).
    func stat(_ key: UInt64) throws -> Glibc.stat {
        var st = Glibc.stat()
        if let dir = directoryFD(key) {
            guard fstatat(dir, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 else { throw FSError(errno: errno) }
            return st
        }
        guard let (parent, name) = table.withLock({ t in t.entries[key].map { ($0.parent, $0.name) } }),
              let dir = directoryFD(parent) else { throw FSError.notFound }
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw FSError(errno: errno == ENOENT ? ESTALE : errno) }
        guard self.key(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) == key else { throw FSError(errno: ESTALE) }
        return st
    }

    /// The node's path relative to the share folder, or nil when it is outside it or gone.
    func relativePath(_ key: UInt64) -> SharePath? {
        if key == rootKey { return .root }
        if let dir = directoryFD(key) {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink("/proc/self/fd/\(dir)", &buffer, Int(PATH_MAX))
            guard n > 0 else { return nil }
            let full = buffer.prefix(n).map { UInt8(bitPattern: $0) }
            let root = Array(path.utf8)
            guard full.count > root.count + 1, full.starts(with: root), full[root.count] == UInt8(ascii: "/") else { return nil }
            return SharePath(Array(full[(root.count + 1)...]))
        }
        guard let (parent, name) = table.withLock({ t in t.entries[key].map { ($0.parent, $0.name) } }),
              let folder = relativePath(parent) else { return nil }
        return folder.appending(name.dropLast().map { UInt8(bitPattern: $0) })
    }
}
