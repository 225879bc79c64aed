import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a file so that readers see either the old or the new content, never a mix:
/// a temporary file in the same directory (created with `mode`), fsync, rename, fsync directory.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to url: URL, mode: mode_t = 0o600) throws {
        let directory = url.deletingLastPathComponent().path
        let tmpPath = directory + "/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmpPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SupportError.writeFailed(path: url.path, reason: String(cString: strerror(errno))) }
        var ok = false
        defer { if !ok { unlink(tmpPath) } }
        var written = 0
        let result: Int = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; return -1 }
                written += n
            }
            return 0
        }
        let syncFailed = fsync(fd) != 0
        close(fd)
        guard result == 0, !syncFailed else {
            throw SupportError.writeFailed(path: url.path, reason: String(cString: strerror(errno)))
        }
        // fchmod-equivalent: umask may have narrowed the mode; make it exactly `mode`.
        chmod(tmpPath, mode)
        guard rename(tmpPath, url.path) == 0 else {
            throw SupportError.writeFailed(path: url.path, reason: String(cString: strerror(errno)))
        }
        ok = true
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
