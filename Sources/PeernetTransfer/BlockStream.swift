import PeernetProtocol

/// The block-transfer stream inside UDT (data.md §2.4): for each requested block, a 25-byte
/// header and, when available, the block's bytes. This is the holder's writer.
public enum BlockStreamWriter {
    /// Builds the stream for `ranges`, asking `block(number)` for raw blocks. Stops counting
    /// sent blocks at `limit` (per range, as the reference does: each further range can still
    /// add one block).
    public static func stream(ranges: [BlockRange], limit: UInt64, maxBlockSize: UInt64, height: UInt64,
                              block: (UInt64) -> [UInt8]?) -> [UInt8] {
        var out: [UInt8] = []
        var sent: UInt64 = 0
        for range in ranges {
            var n: UInt64 = 0
            while n < range.count {
                let (number, overflow) = range.offset.addingReportingOverflow(n)
                if overflow { break }
                n += 1
                // Bound the work for absurd ranges: nothing exists past our height.
                if number >= height {
                    out += BlockTransferHeader(availability: .notAvailable, blockNumber: number, count: 1, blockSize: 0).encode()
                    if n > 4096 { break }
                    continue
                }
                guard let raw = block(number) else {
                    out += BlockTransferHeader(availability: .notAvailable, blockNumber: number, count: 1, blockSize: 0).encode()
                    continue
                }
                if UInt64(raw.count) > maxBlockSize {
                    out += BlockTransferHeader(availability: .sizeExceeded, blockNumber: number, count: 1, blockSize: UInt64(raw.count)).encode()
                    continue
                }
                out += BlockTransferHeader(availability: .available, blockNumber: number, count: 1, blockSize: UInt64(raw.count)).encode()
                out += raw
                sent += 1
                if sent >= limit { break }
            }
        }
        return out
    }
}

/// The requester's incremental parser of a block stream: feed bytes as they arrive, get
/// blocks out; rejects headers that do not match the request.
public struct BlockStreamReader: Sendable {
    public enum Item: Equatable, Sendable {
        case block(number: UInt64, raw: [UInt8])
        case missing(number: UInt64, availability: BlockTransferHeader.Availability)
    }
    public enum StreamError: Error, Equatable { case badHeader(String) }

    let ranges: [BlockRange]
    let maxBlockSize: UInt64
    /// Headers still expected (the reference stops after Σ range counts).
    public private(set) var remaining: UInt64
    private var buffer: [UInt8] = []
    private var header: BlockTransferHeader?

    public init(ranges: [BlockRange], maxBlockSize: UInt64) {
        self.ranges = ranges
        self.maxBlockSize = maxBlockSize
        remaining = ranges.reduce(0) { $0 &+ min($1.count, 1 << 20) }
    }

    public var isComplete: Bool { remaining == 0 }

    public mutating func feed(_ bytes: [UInt8]) throws(StreamError) -> [Item] {
        buffer += bytes
        var items: [Item] = []
        while remaining > 0 {
            if header == nil {
                guard buffer.count >= BlockTransferHeader.size else { break }
                let h: BlockTransferHeader
                do { h = try BlockTransferHeader.decode(Array(buffer.prefix(BlockTransferHeader.size))) } catch {
                    throw .badHeader("undecodable block header")
                }
                buffer.removeFirst(BlockTransferHeader.size)
                guard h.count == 1 else { throw .badHeader("count \(h.count) (must be 1)") }
                guard ranges.contains(where: { h.blockNumber >= $0.offset && h.blockNumber - $0.offset < $0.count }) else {
                    throw .badHeader("block \(h.blockNumber) was not requested")
                }
                if h.availability != .available {
                    items.append(.missing(number: h.blockNumber, availability: h.availability))
                    remaining -= 1
                    continue
                }
                guard h.blockSize <= maxBlockSize else { throw .badHeader("block of \(h.blockSize) bytes exceeds \(maxBlockSize)") }
                header = h
            }
            guard let h = header, buffer.count >= Int(h.blockSize) else { break }
            items.append(.block(number: h.blockNumber, raw: Array(buffer.prefix(Int(h.blockSize)))))
            buffer.removeFirst(Int(h.blockSize))
            header = nil
            remaining -= 1
        }
        return items
    }
}
