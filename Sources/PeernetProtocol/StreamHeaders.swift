/// The 16-byte header at the start of a file-transfer stream (transfer.md §4.3).
public struct FileTransferHeader: Equatable, Sendable {
    public static let size = 16
    public var fileSize: UInt64
    public var transferSize: UInt64
    public init(fileSize: UInt64, transferSize: UInt64) {
        self.fileSize = fileSize
        self.transferSize = transferSize
    }

    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.appendLE(fileSize)
        out.appendLE(transferSize)
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws(ProtocolError) -> FileTransferHeader {
        var r = ByteReader(bytes, what: "file transfer header")
        let h = FileTransferHeader(fileSize: try r.u64le(), transferSize: try r.u64le())
        guard h.transferSize <= h.fileSize else {
            throw .invalidField(what: "file transfer header", reason: "transfer size \(h.transferSize) exceeds file size \(h.fileSize)")
        }
        return h
    }
}

/// The 25-byte header before each block of a block-transfer stream (data.md §2.4).
public struct BlockTransferHeader: Equatable, Sendable {
    public enum Availability: UInt8, Sendable { case available = 0, notAvailable = 1, sizeExceeded = 2 }
    public static let size = 25
    public var availability: Availability
    public var blockNumber: UInt64
    /// Always 1 from the reference.
    public var count: UInt64
    public var blockSize: UInt64

    public init(availability: Availability, blockNumber: UInt64, count: UInt64 = 1, blockSize: UInt64) {
        self.availability = availability
        self.blockNumber = blockNumber
        self.count = count
        self.blockSize = blockSize
    }

    public func encode() -> [UInt8] {
        var out: [UInt8] = [availability.rawValue]
        out.appendLE(blockNumber)
        out.appendLE(count)
        out.appendLE(blockSize)
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws(ProtocolError) -> BlockTransferHeader {
        var r = ByteReader(bytes, what: "block transfer header")
        let raw = try r.u8()
        guard let availability = Availability(rawValue: raw) else {
            throw .invalidField(what: "block availability", reason: "unknown value \(raw)")
        }
        return BlockTransferHeader(availability: availability, blockNumber: try r.u64le(), count: try r.u64le(),
                                   blockSize: try r.u64le())
    }
}
