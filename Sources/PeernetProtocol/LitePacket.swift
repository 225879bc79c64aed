/// A lite packet (network.md §3, transfer.md §3): transfer ID(16) ‖ size(2, LE) ‖ data.
/// No encryption, no signature: used only for the data phase of transfers.
public struct LitePacket: Equatable, Sendable {
    public static let headerSize = 18
    public var id: TransferID
    public var data: [UInt8]

    public init(id: TransferID, data: [UInt8]) {
        self.id = id
        self.data = data
    }

    /// Exactly `18 + data.count` bytes, nothing after the data (the reference receiver would
    /// pass trailing bytes on to UDT).
    public func encode() throws(ProtocolError) -> [UInt8] {
        guard data.count <= Int(UInt16.max) else {
            throw .tooLarge(what: "lite packet data", size: data.count, limit: Int(UInt16.max))
        }
        var out = id.bytes
        out.reserveCapacity(Self.headerSize + data.count)
        out.appendLE(UInt16(data.count))
        out.append(contentsOf: data)
        return out
    }

    /// The transfer ID of a datagram that may be a lite packet (nil below 18 bytes). The node
    /// looks this up in its table of active transfers before trying regular decoding.
    public static func peekID(_ datagram: [UInt8]) -> TransferID? {
        datagram.withUnsafeBytes { peekID($0) }
    }

    /// The same, on a datagram in the receiver's buffer (valid only during the call).
    public static func peekID(_ datagram: UnsafeRawBufferPointer) -> TransferID? {
        guard datagram.count >= headerSize else { return nil }
        return TransferID(unchecked: Array(datagram[0..<16]))
    }

    /// Decodes a lite packet. Unlike the reference, the data is cut at the size field: bytes
    /// after it are ignored rather than handed to UDT.
    public static func decode(_ datagram: [UInt8]) throws(ProtocolError) -> LitePacket {
        let range = try dataRange(in: datagram)
        return LitePacket(id: TransferID(unchecked: Array(datagram[0..<16])), data: Array(datagram[range]))
    }

    /// Where a lite packet's data lies in `datagram`, checked as `decode` checks it: for the
    /// transfer's receive path, which decrypts the data in place instead of copying it out.
    public static func dataRange(in datagram: [UInt8]) throws(ProtocolError) -> Range<Int> {
        try datagram.withUnsafeBytes { raw in Result { () throws(ProtocolError) in try dataRange(in: raw) } }.get()
    }

    /// The same, on a datagram in the receiver's buffer.
    public static func dataRange(in datagram: UnsafeRawBufferPointer) throws(ProtocolError) -> Range<Int> {
        guard datagram.count >= headerSize else {
            throw .truncated(what: "lite packet header", needed: headerSize, available: datagram.count)
        }
        let size = Int(datagram[16]) | Int(datagram[17]) << 8
        guard size <= datagram.count - headerSize else {
            throw .truncated(what: "lite packet data", needed: headerSize + size, available: datagram.count)
        }
        return headerSize..<(headerSize + size)
    }

    /// A lite packet whose `dataCount` bytes of data `fill` writes in place: header and data in
    /// one allocation (the transfer's send path seals straight into it).
    public static func encode(id: TransferID, dataCount: Int,
                              fill: (UnsafeMutableRawBufferPointer) -> Void) throws(ProtocolError) -> [UInt8] {
        guard dataCount <= Int(UInt16.max) else {
            throw .tooLarge(what: "lite packet data", size: dataCount, limit: Int(UInt16.max))
        }
        return [UInt8](unsafeUninitializedCapacity: headerSize + dataCount) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            id.bytes.withUnsafeBytes { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 16) }
            raw[16] = UInt8(truncatingIfNeeded: dataCount)
            raw[17] = UInt8(truncatingIfNeeded: dataCount >> 8)
            fill(UnsafeMutableRawBufferPointer(rebasing: raw[headerSize..<(headerSize + dataCount)]))
            count = headerSize + dataCount
        }
    }
}
