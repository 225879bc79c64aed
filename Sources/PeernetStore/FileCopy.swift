import CLinuxCalls
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Copies bytes between open files: inside the kernel (`copy_file_range`: no trip through user
/// memory, and a reflink where the file system offers one), with a read/write loop where the
/// kernel cannot (another file system type, old kernels). Used by `peernet get`'s export and
/// by the share folder's first start.
enum FileCopy {
    /// Copies `size` bytes from the start of `source` to `target` (at its file offset).
    /// `sourceLabel` and `targetLabel` name the files in errors.
    static func copy(from source: Int32, to target: Int32, size: UInt64, sourceLabel: String, targetLabel: String) throws {
        var copied: UInt64 = 0
        var inKernel = true
        var buffer: [UInt8] = []
        while copied < size {
            let want = Int(min(size - copied, 1 << 30))
            if inKernel {
                var at = Int64(copied)
                let n = peernet_copy_file_range(source, &at, target, want)
                if n > 0 { copied += UInt64(n); continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP, EPERM].contains(errno) && copied == 0 {
                    inKernel = false
                    continue
                }
                if n == 0 { throw WarehouseError.io(sourceLabel, "ended after \(copied) of \(size) bytes") }
                throw WarehouseError.io(targetLabel, String(cString: strerror(errno)))
            }
            if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: 4 << 20) }
            let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress, min($0.count, want), off_t(copied)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw WarehouseError.io(sourceLabel, n == 0 ? "ended after \(copied) of \(size) bytes" : String(cString: strerror(errno))) }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { write(target, $0.baseAddress! + written, n - written) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { throw WarehouseError.io(targetLabel, String(cString: strerror(errno))) }
                written += w
            }
            copied += UInt64(n)
        }
    }
}
