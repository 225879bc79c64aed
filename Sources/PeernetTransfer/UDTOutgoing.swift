import PeernetProtocol

/// A UDT packet on its way out, sent as one datagram: a control packet's bytes, or a data
/// packet's 16-byte header and its payload, a slice of the bytes the writer queued. The payload
/// is not copied into a packet of its own: the transfer seals header and payload straight
/// into the datagram (assembling each packet first was 3.2 % of a fast-path transfer's CPU,
/// perf). The sender's window keeps these values for retransmission.
public enum UDTOutgoing: Sendable {
    case control([UInt8])
    case data(header: UDTDataPacket.HeaderWords, payload: ArraySlice<UInt8>)

    /// A data packet: the header as `UDTDataPacket.encode` writes it.
    static func data(sequence: UInt32, messageNumber: UInt32, timestamp: UInt32, destinationSocketID: UInt32,
                     payload: ArraySlice<UInt8>) -> UDTOutgoing {
        .data(header: UDTDataPacket.header(sequence: sequence, messageNumber: messageNumber, timestamp: timestamp,
                                           destinationSocketID: destinationSocketID),
              payload: payload)
    }

    /// The datagram's length.
    public var count: Int {
        switch self {
        case .control(let bytes): bytes.count
        case .data(_, let payload): UDTPacket.headerSize + payload.count
        }
    }

    /// Calls `body` with the packet's two parts (the second empty for a control packet).
    public func withParts<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .control(let bytes):
            return bytes.withUnsafeBytes { body($0, UnsafeRawBufferPointer(start: nil, count: 0)) }
        case .data(var header, let payload):
            return withUnsafeBytes(of: &header) { h in payload.withUnsafeBytes { body(h, $0) } }
        }
    }

    /// The packet as one array (a copy).
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, n in
            copy(into: UnsafeMutableRawBufferPointer(buffer))
            n = count
        }
    }

    /// Copies the packet into `out` (at least `count` bytes).
    public func copy(into out: UnsafeMutableRawBufferPointer) {
        withParts { head, tail in
            if head.count > 0 { out.baseAddress!.copyMemory(from: head.baseAddress!, byteCount: head.count) }
            if tail.count > 0 { (out.baseAddress! + head.count).copyMemory(from: tail.baseAddress!, byteCount: tail.count) }
        }
    }
}
