import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How many of a file's pages are in the page cache (mincore(2) on a fresh mapping, which
/// faults nothing in).
public func residentPages(_ path: String) throws -> Int {
    try residentPages(path, offset: 0, length: nil)
}

/// The same for `length` bytes from `offset` (page-aligned); nil: to the end of the file.
public func residentPages(_ path: String, offset: Int, length: Int?) throws -> Int {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw POSIXError(.ENOENT) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, Int(st.st_size) > offset else { return 0 }
    let length = min(length ?? .max, Int(st.st_size) - offset)
    guard length > 0 else { return 0 }
    guard let map = mmap(nil, length, PROT_READ, MAP_SHARED, fd, off_t(offset)), map != MAP_FAILED else { throw POSIXError(.EIO) }
    defer { munmap(map, length) }
    var pages = [UInt8](repeating: 0, count: (length + 4095) / 4096)
    guard mincore(map, length, &pages) == 0 else { throw POSIXError(.EIO) }
    return pages.filter { $0 & 1 != 0 }.count
}
