import Glibc

/// The name of an entry that readdir(3) returned, read in place (without the NUL).
///
/// `entry.pointee.d_name` copies the whole 256-byte array out of the entry. glibc packs the
/// entries in its buffer to their names' length (`d_reclen`), so for an entry near the end of
/// that buffer the copy reads past its allocation. AddressSanitizer reported it
/// (heap-buffer-overflow, the share scanner while `cp -r` put 10,000 files into me/), and
/// release builds crashed there now and then.
public func directoryEntryName(_ entry: UnsafePointer<dirent>) -> [UInt8] {
    let offset = MemoryLayout<dirent>.offset(of: \.d_name)!
    let start = (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self)
    return Array(UnsafeRawBufferPointer(start: start, count: strlen(start)))
}
