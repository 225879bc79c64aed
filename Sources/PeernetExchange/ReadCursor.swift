import Synchronization

/// Where a reader's last read of a file ended: a read that starts near there (the kernel's
/// read-ahead sends several reads at once, so they arrive slightly out of order) is
/// sequential, and sequential reads get read-ahead (see `FileDownloader.readRegion`).
/// The drive keeps one per open file: with one per file, two programs reading one file at
/// different places moved each other's cursor, so neither looked sequential and every read
/// became a small transfer of its own.
public final class ReadCursor: Sendable {
    let last = Mutex<UInt64?>(nil)

    public init() {}

    /// Moves the cursor for a read of `offset..<end`; true if the read is sequential: from the
    /// start, or within 4 MiB of where the last one ended. A read from the start or elsewhere
    /// moves the cursor there: reading a file a second time, or after a seek, is sequential
    /// again from the next read on (a cursor that only grew left a second reading without
    /// read-ahead: one small transfer per read, measured).
    static func step(_ last: inout UInt64?, offset: UInt64, end: UInt64) -> Bool {
        let near = offset == 0 || last.map { offset + (4 << 20) >= $0 && offset <= $0 + (4 << 20) } ?? false
        last = near && offset > 0 ? max(end, last ?? 0) : end
        return near
    }
}
