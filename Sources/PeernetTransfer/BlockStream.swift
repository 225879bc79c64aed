import PeernetProtocol

/// The block-transfer stream inside UDT (data.md §2.4): for each requested block, a 25-byte
/// header and, when available, the block's bytes. This is the holder's writer.
///
/// It is produced lazily, a piece at a time as the connection drains, and bounded: one request
/// (up to 4,083 ranges of up to 2^64 blocks each, from anyone) once made the holder build a reply
/// of hundreds of megabytes in memory. A request gets at most `Limits.maxHeaders` headers and
/// `Limits.maxBlockBytes` bytes of blocks; past that the stream simply ends (an honest requester
/// asks for at most its cache's block count, 256 by default).
public struct BlockStreamWriter: Sendable {
    /// What one Get Block request can cost the holder (README "Resource bounds").
    public struct Limits: Sendable {
        /// Headers (25 bytes each) per request, over all its ranges.
        public var maxHeaders: UInt64 = 4_096
        /// Bytes of blocks per request.
        public var maxBlockBytes: UInt64 = 64 << 20
        public init() {}
    }

    let ranges: [BlockRange]
    let limit: UInt64
    let maxBlockSize: UInt64
    let height: UInt64
    let limits: Limits
    private var rangeIndex = 0
    private var n: UInt64 = 0
    private var sent: UInt64 = 0
    private var headers: UInt64 = 0
    private var blockBytes: UInt64 = 0
    private var ended = false

    public init(ranges: [BlockRange], limit: UInt64, maxBlockSize: UInt64, height: UInt64, limits: Limits = Limits()) {
        self.ranges = ranges
        self.limit = limit
        self.maxBlockSize = maxBlockSize
        self.height = height
        self.limits = limits
    }

    /// Whether the whole stream has been produced.
    public var isFinished: Bool { ended }

    /// The next piece of the stream, at least `bytes` long unless the stream ends (then shorter;
    /// empty once finished). Asks `block(number)` for raw blocks below the height. Stops
    /// counting sent blocks at `limit` per range, as the reference does (each further range can
    /// still add one block).
    public mutating func next(_ bytes: Int, block: (UInt64) -> [UInt8]?) -> [UInt8] {
        var out: [UInt8] = []
        while !ended && out.count < bytes {
            guard rangeIndex < ranges.count, headers < limits.maxHeaders else { ended = true; break }
            let range = ranges[rangeIndex]
            let (number, overflow) = range.offset.addingReportingOverflow(n)
            guard n < range.count, !overflow else { nextRange(); continue }
            n += 1
            headers += 1
            guard number < height, let raw = block(number) else {
                out += BlockTransferHeader(availability: .notAvailable, blockNumber: number, count: 1, blockSize: 0).encode()
                continue
            }
            let size = UInt64(raw.count)
            if size > maxBlockSize {
                out += BlockTransferHeader(availability: .sizeExceeded, blockNumber: number, count: 1, blockSize: size).encode()
                continue
            }
            guard size <= limits.maxBlockBytes - blockBytes else { ended = true; break }
            blockBytes += size
            out += BlockTransferHeader(availability: .available, blockNumber: number, count: 1, blockSize: size).encode()
            out += raw
            sent += 1
            if sent >= limit { nextRange() }
        }
        return out
    }

    private mutating func nextRange() {
        rangeIndex += 1
        n = 0
    }

    /// The whole (bounded) stream at once: tests, and tiny chains.
    public static func stream(ranges: [BlockRange], limit: UInt64, maxBlockSize: UInt64, height: UInt64,
                              limits: Limits = Limits(), block: (UInt64) -> [UInt8]?) -> [UInt8] {
        var writer = BlockStreamWriter(ranges: ranges, limit: limit, maxBlockSize: maxBlockSize, height: height, limits: limits)
        var out: [UInt8] = []
        while !writer.isFinished { out += writer.next(1 << 20, block: block) }
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
