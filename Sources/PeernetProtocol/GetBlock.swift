import PeernetCrypto

/// A range of blocks: `count` blocks starting at block number `offset`.
public struct BlockRange: Equatable, Sendable {
    public var offset: UInt64
    public var count: UInt64
    public init(offset: UInt64, count: UInt64) {
        self.offset = offset
        self.count = count
    }
}

/// Get Block (command 6): requests blocks of a blockchain (data.md §2.3).
public struct GetBlockMessage: Equatable, Sendable {
    public enum Control: UInt8, Sendable {
        case requestStart = 0, notAvailable = 1, active = 2, terminate = 3, empty = 4
    }
    public static let headerSize = 34
    /// The most ranges one request can carry within the payload limit.
    public static let maxRanges = (WireLimits.maxPayload - 68) / 16

    public var control: Control
    public var blockchainPublicKey: PublicKey
    public var limitBlockCount: UInt64 = 0
    public var maxBlockSize: UInt64 = 0
    public var transferID: TransferID = .zero
    public var targetBlocks: [BlockRange] = []
    public var data: [UInt8] = []

    public init(control: Control, blockchainPublicKey: PublicKey) {
        self.control = control
        self.blockchainPublicKey = blockchainPublicKey
    }

    public static func request(blockchain: PublicKey, limitBlockCount: UInt64, maxBlockSize: UInt64,
                               transferID: TransferID, ranges: [BlockRange]) -> GetBlockMessage {
        var m = GetBlockMessage(control: .requestStart, blockchainPublicKey: blockchain)
        m.limitBlockCount = limitBlockCount
        m.maxBlockSize = maxBlockSize
        m.transferID = transferID
        m.targetBlocks = ranges
        return m
    }

    /// Controls 1, 3 and 4 end the bidirectional sequence.
    public var isLast: Bool { control == .notAvailable || control == .terminate || control == .empty }

    public func encode() throws(ProtocolError) -> [UInt8] {
        var out: [UInt8] = [control.rawValue]
        out += blockchainPublicKey.compressed
        switch control {
        case .requestStart:
            guard !targetBlocks.isEmpty else {
                throw .invalidField(what: "get block request", reason: "needs at least one block range")
            }
            guard targetBlocks.count <= Self.maxRanges else {
                throw .tooLarge(what: "get block ranges", size: targetBlocks.count, limit: Self.maxRanges)
            }
            out.appendLE(limitBlockCount)
            out.appendLE(maxBlockSize)
            out += transferID.bytes
            out.appendLE(UInt16(targetBlocks.count))
            for range in targetBlocks {
                out.appendLE(range.offset)
                out.appendLE(range.count)
            }
        case .active:
            guard Self.headerSize + data.count <= WireLimits.maxPayload else {
                throw .tooLarge(what: "get block data", size: data.count, limit: WireLimits.maxPayload - Self.headerSize)
            }
            out += data
        case .notAvailable, .terminate, .empty: break
        }
        return out
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> GetBlockMessage {
        var r = ByteReader(payload, what: "get block")
        try r.require(headerSize)
        let raw = try r.u8()
        guard let control = Control(rawValue: raw) else {
            throw .invalidField(what: "get block control", reason: "unknown value \(raw)")
        }
        var m = GetBlockMessage(control: control, blockchainPublicKey: try r.publicKey("blockchain key"))
        switch control {
        case .requestStart:
            try r.require(34, "request")
            m.limitBlockCount = try r.u64le()
            m.maxBlockSize = try r.u64le()
            m.transferID = TransferID(unchecked: try r.take(16))
            let count = Int(try r.u16le())
            guard count >= 1 else { throw .invalidField(what: "get block request", reason: "no block range") }
            try r.require(count * 16, "ranges")
            for _ in 0..<count { m.targetBlocks.append(BlockRange(offset: try r.u64le(), count: try r.u64le())) }
        case .active:
            m.data = r.rest()
        case .notAvailable, .terminate, .empty: break
        }
        return m
    }
}
