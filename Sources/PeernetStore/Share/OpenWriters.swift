import Foundation
import PeernetSupport
#if canImport(Glibc)
import Glibc
#endif

/// Which files of one file system some process has open for writing, read from
/// `/proc/<pid>/fd` and `fdinfo`. The drive counts its own writable handles, but programs that
/// work in the share folder directly (the daemon without a mount, or `me/` bound straight onto
/// the folder) are seen by no handle: a download or a database that pauses longer than the
/// settle time would otherwise be published half-written.
///
/// Read-only: nothing here touches the files (a lease would also tell, but breaking it makes
/// a writer's `open` wait or fail with EWOULDBLOCK). A process whose descriptors we may not
/// read (another user's, for a node not running as root) is not seen; for those files the
/// settle time alone decides, as before.
enum OpenWriters {
    typealias Key = SharePublisher.FileKey

    /// Bounds of one look: descriptors examined and time spent.
    static let maxDescriptors = 500_000
    static let maxSeconds = 2.0

    /// The files on `device` open for writing (O_WRONLY or O_RDWR) by any process we can see.
    static func scan(device: UInt64) -> Set<Key> {
        var result = Set<Key>()
        guard let proc = opendir("/proc") else { return result }
        defer { closedir(proc) }
        let start = monotonicNow()
        var examined = 0
        while let entry = readdir(proc) {
            let name = directoryEntryName(entry)
            guard !name.isEmpty, name.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { continue }
            let pid = String(decoding: name, as: UTF8.self)
            let fdDir = open("/proc/\(pid)/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fdDir >= 0 else { continue }
            let infoDir = open("/proc/\(pid)/fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard infoDir >= 0, let fds = fdopendir(fdDir) else {
                close(fdDir)
                if infoDir >= 0 { close(infoDir) }
                continue
            }
            while let e = readdir(fds) {
                let fdName = directoryEntryName(e)
                guard !fdName.isEmpty, fdName.first != UInt8(ascii: ".") else { continue }
                examined += 1
                if examined > maxDescriptors || monotonicNow() - start > maxSeconds { break }
                var st = stat()
                // The link resolves to the open file itself (also when it was renamed or removed).
                guard withCPath(fdName, { fstatat(fdDir, $0, &st, 0) }) == 0,
                      st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_dev) == device else { continue }
                let key = Key(device: device, inode: UInt64(st.st_ino))
                if result.contains(key) { continue }
                if let flags = withCPath(fdName, { openFlags(infoDir, $0) }), flags & O_ACCMODE != O_RDONLY {
                    result.insert(key)
                }
            }
            closedir(fds)
            close(infoDir)
            if examined > maxDescriptors || monotonicNow() - start > maxSeconds { break }
        }
        return result
    }

    /// The `flags:` line of an fdinfo file (octal).
    private static func openFlags(_ dir: Int32, _ name: UnsafePointer<CChar>) -> Int32? {
        let fd = openat(dir, name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        for line in buffer.prefix(n).split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("flags:".utf8)) {
            let digits = line.dropFirst(6).filter { $0 >= 48 && $0 <= 55 }
            return Int32(String(decoding: digits, as: UTF8.self), radix: 8)
        }
        return nil
    }
}
