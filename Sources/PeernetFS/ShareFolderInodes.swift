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

/// The inodes of me/, the share folder, as the kernel knows them. Each holds an `O_PATH`
/// descriptor of its backing file (libfuse's passthrough_ll does the same): a rename, also of a
/// parent folder, moves nothing here, hard links are one inode, and an unlinked file that is
/// still open stays reachable. An entry lives while the kernel's lookup count is above zero and
/// goes with `forget`, so the table never outgrows what the kernel caches.
///
/// Node numbers are the backing inode numbers with the top bit set: stable across remounts and
/// forgets (vim and rsync compare them), never equal to the small numbers of the other
/// directories, and never reused while the kernel holds one (the descriptor keeps the backing
/// inode allocated).
final class ShareFolderInodes: @unchecked Sendable {
    static let localBit: UInt64 = 1 << 63
    /// Keys of files on another file system mounted inside the share folder (rare).
    static let foreignBit: UInt64 = 1 << 62

    struct Entry {
        let fd: Int32
        var lookups: UInt64
        let device: UInt64
        let inode: UInt64
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
    }

    deinit {
        close(rootFD)
        for e in table.withLock({ Array($0.entries.values) }) { close(e.fd) }
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

    /// The `O_PATH` descriptor of a node (the root's for the root).
    func fd(_ key: UInt64) -> Int32? {
        if key == rootKey { return rootFD }
        return table.withLock { $0.entries[key]?.fd }
    }

    /// Looks `name` up in the directory `parent` and counts one kernel lookup of the result.
    func lookup(parent: UInt64, name: UnsafePointer<CChar>) throws -> (key: UInt64, stat: Glibc.stat) {
        guard let dir = fd(parent) else { throw FSError.notFound }
        let fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw FSError(errno: errno) }
        var st = Glibc.stat()
        guard fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 else {
            let e = errno
            close(fd)
            throw FSError(errno: e)
        }
        let key = self.key(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        if key == rootKey { close(fd); return (key, st) }
        let extra: Int32? = table.withLock { t in
            if var e = t.entries[key] {
                e.lookups += 1
                t.entries[key] = e
                return fd
            }
            t.entries[key] = Entry(fd: fd, lookups: 1, device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            return nil
        }
        if let extra { close(extra) }
        return (key, st)
    }

    /// The kernel dropped `count` lookups of a node.
    func forget(_ key: UInt64, _ count: UInt64) {
        let closing: Int32? = table.withLock { t in
            guard var e = t.entries[key] else { return nil }
            e.lookups = e.lookups > count ? e.lookups - count : 0
            if e.lookups == 0 {
                t.entries[key] = nil
                return e.fd
            }
            t.entries[key] = e
            return nil
        }
        if let closing { close(closing) }
    }

    /// Live entries (tests: the table follows the kernel's lookups).
    var count: Int { table.withLock { $0.entries.count } }

    func stat(_ key: UInt64) throws -> Glibc.stat {
        guard let fd = fd(key) else { throw FSError.notFound }
        var st = Glibc.stat()
        guard fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 else { throw FSError(errno: errno) }
        return st
    }

    /// "/proc/self/fd/N": the path by which calls that take no descriptor reach a node.
    func procPath(_ key: UInt64) throws -> String {
        guard let fd = fd(key) else { throw FSError.notFound }
        return "/proc/self/fd/\(fd)"
    }

    /// The node's path relative to the share folder (its current name, read from the kernel),
    /// or nil when it is outside it or unlinked.
    func relativePath(_ key: UInt64) -> SharePath? {
        if key == rootKey { return .root }
        guard let fd = fd(key) else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, Int(PATH_MAX))
        guard n > 0 else { return nil }
        let full = buffer.prefix(n).map { UInt8(bitPattern: $0) }
        let root = Array(path.utf8)
        guard full.count > root.count + 1, full.starts(with: root), full[root.count] == UInt8(ascii: "/") else { return nil }
        if full.count > 10, Array(full.suffix(10)) == Array(" (deleted)".utf8), (try? self.stat(key))?.st_nlink == 0 { return nil }
        return SharePath(Array(full[(root.count + 1)...]))
    }
}
