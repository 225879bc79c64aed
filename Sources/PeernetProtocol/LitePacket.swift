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
        guard datagram.count >= headerSize else { return nil }
        return TransferID(unchecked: Array(datagram[0..<16]))
    }

    /// Decodes a lite packet. Unlike the reference, the data is cut at the size field: bytes
    /// after it are ignored rather than handed to UDT.
    public static func decode(_ datagram: [UInt8]) throws(ProtocolError) -> LitePacket {
        var r = ByteReader(datagram, what: "lite packet")
        let id = TransferID(unchecked: try r.take(16, "transfer ID"))
        let size = Int(try r.u16le("size"))
        guard size <= r.remaining else {
            throw .truncated(what: "lite packet data", needed: headerSize + size, available: datagram.count)
        }
        return LitePacket(id: id, data: try r.take(size))
    }
}
