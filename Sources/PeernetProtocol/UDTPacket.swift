/// UDT packets as Peernet carries them inside lite packets (transfer.md §6.3). Big-endian.
public enum UDTPacket: Equatable, Sendable {
    case data(UDTDataPacket)
    case control(UDTControlPacket)

    public static let headerSize = 16
    /// 1232 - 18: one UDT packet per lite packet.
    public static let maxPacketSize = 1214
    /// 1214 - 16.
    public static let maxDataPayload = 1198

    public func encode() -> [UInt8] {
        switch self {
        case .data(let d): return d.encode()
        case .control(let c): return c.encode()
        }
    }

    /// The sequence number of a data packet (nil for a control packet or fewer than 16 bytes):
    /// the receive path takes its payload as `bytes[headerSize...]`, a slice of the datagram,
    /// instead of `decode` copying it out.
    public static func dataSequence(_ bytes: [UInt8]) -> UInt32? {
        guard bytes.count >= headerSize, bytes[0] & 0x80 == 0 else { return nil }
        return (UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])) & 0x7fff_ffff
    }

    /// Decodes a UDT packet. Shapes the reference's receive loop chokes on (shorter than 16
    /// bytes, short handshakes/ACKs/drop requests, unknown control types, NAKs that are not
    /// whole entries) are rejected here with a typed error.
    public static func decode(_ bytes: [UInt8]) throws(ProtocolError) -> UDTPacket {
        var r = ByteReader(bytes, what: "UDT packet")
        try r.require(headerSize)
        if bytes[0] & 0x80 == 0 {
            let seq = try r.u32be()
            let word = try r.u32be()
            return .data(UDTDataPacket(sequence: seq & 0x7fff_ffff, boundary: UInt8(word >> 30),
                                       inOrder: word & (1 << 29) != 0, messageNumber: word & 0x1fff_ffff,
                                       timestamp: try r.u32be(), destinationSocketID: try r.u32be(), payload: r.rest()))
        }
        let type = try r.u16be() & 0x7fff
        let subtype = try r.u16be()
        let info = try r.u32be()
        let timestamp = try r.u32be()
        let destination = try r.u32be()
        let body: UDTControlPacket.Body
        switch type {
        case 0:
            try r.require(48, "handshake")
            var h = UDTHandshake()
            h.udtVersion = try r.u32be()
            h.socketType = try r.u32be()
            h.initialSequence = try r.u32be()
            h.maxPacketSize = try r.u32be()
            h.maxFlowWindow = try r.u32be()
            h.requestType = Int32(bitPattern: try r.u32be())
            h.socketID = try r.u32be()
            h.synCookie = try r.u32be()
            h.peerAddress = try r.take(16)
            body = .handshake(h)
        case 1: body = .keepAlive
        case 2:
            try r.require(16, "ACK")
            var a = UDTAck(ackSequence: info, ackNumber: try r.u32be(), rttMicroseconds: try r.u32be(),
                           rttVarianceMicroseconds: try r.u32be(), availableBuffer: try r.u32be())
            if r.remaining >= 4 {
                a.packetReceiveRate = try r.u32be()
                a.linkCapacity = r.remaining >= 4 ? try r.u32be() : 0
            }
            body = .ack(a)
        case 3:
            guard r.remaining % 4 == 0 else {
                throw .invalidField(what: "UDT NAK", reason: "loss list of \(r.remaining) bytes is not whole 4-byte entries")
            }
            var list: [UInt32] = []
            while r.remaining > 0 { list.append(try r.u32be()) }
            body = .nak(list)
        case 4: body = .congestionWarning
        case 5: body = .shutdown
        case 6: body = .ack2(ackSequence: info)
        case 7:
            try r.require(8, "message drop request")
            body = .messageDropRequest(messageNumber: info, first: try r.u32be(), last: try r.u32be())
        case 8: body = .error(code: info)
        case 0x7fff: body = .userDefined(subtype: subtype, info: info, data: r.rest())
        default:
            throw .invalidField(what: "UDT control type", reason: "unknown type \(type)")
        }
        return .control(UDTControlPacket(timestamp: timestamp, destinationSocketID: destination, body: body))
    }
}

/// A UDT data packet. Peernet's stream mode writes boundary 3 (solo) with the in-order flag.
public struct UDTDataPacket: Equatable, Sendable {
    /// 31-bit packet sequence number.
    public var sequence: UInt32
    /// 3 = only, 2 = first, 1 = last, 0 = middle.
    public var boundary: UInt8 = 3
    public var inOrder: Bool = true
    /// 29-bit message number.
    public var messageNumber: UInt32
    public var timestamp: UInt32
    public var destinationSocketID: UInt32
    public var payload: [UInt8]

    public init(sequence: UInt32, boundary: UInt8 = 3, inOrder: Bool = true, messageNumber: UInt32,
                timestamp: UInt32, destinationSocketID: UInt32, payload: [UInt8]) {
        self.sequence = sequence
        self.boundary = boundary
        self.inOrder = inOrder
        self.messageNumber = messageNumber
        self.timestamp = timestamp
        self.destinationSocketID = destinationSocketID
        self.payload = payload
    }

    public func encode() -> [UInt8] {
        Self.encode(sequence: sequence, boundary: boundary, inOrder: inOrder, messageNumber: messageNumber,
                    timestamp: timestamp, destinationSocketID: destinationSocketID, payload: payload[...])
    }

    /// A data packet's header as four big-endian words in a tuple (no array allocated per
    /// packet): its bytes in memory order are the wire's.
    public typealias HeaderWords = (UInt32, UInt32, UInt32, UInt32)

    public static func header(sequence: UInt32, boundary: UInt8 = 3, inOrder: Bool = true, messageNumber: UInt32,
                              timestamp: UInt32, destinationSocketID: UInt32) -> HeaderWords {
        ((sequence & 0x7fff_ffff).bigEndian,
         (UInt32(boundary & 3) << 30 | (inOrder ? 1 << 29 : 0) | messageNumber & 0x1fff_ffff).bigEndian,
         timestamp.bigEndian, destinationSocketID.bigEndian)
    }

    /// A data packet straight from a slice of the sender's queue: header and payload written
    /// into one allocation, the payload copied once.
    public static func encode(sequence: UInt32, boundary: UInt8 = 3, inOrder: Bool = true, messageNumber: UInt32,
                              timestamp: UInt32, destinationSocketID: UInt32, payload: ArraySlice<UInt8>) -> [UInt8] {
        let words = header(sequence: sequence, boundary: boundary, inOrder: inOrder, messageNumber: messageNumber,
                           timestamp: timestamp, destinationSocketID: destinationSocketID)
        return [UInt8](unsafeUninitializedCapacity: UDTPacket.headerSize + payload.count) { buffer, count in
            withUnsafeBytes(of: words) { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: $0.baseAddress!, byteCount: UDTPacket.headerSize) }
            payload.withUnsafeBytes { p in
                if p.count > 0 { UnsafeMutableRawPointer(buffer.baseAddress! + UDTPacket.headerSize).copyMemory(from: p.baseAddress!, byteCount: p.count) }
            }
            count = UDTPacket.headerSize + payload.count
        }
    }
}

/// The body of a UDT handshake (48 bytes after the control header).
public struct UDTHandshake: Equatable, Sendable {
    public var udtVersion: UInt32 = 4
    /// 1 = stream, 2 = datagram.
    public var socketType: UInt32 = 1
    public var initialSequence: UInt32 = 0
    /// Not filled by the reference (MTU negotiation disabled).
    public var maxPacketSize: UInt32 = 0
    public var maxFlowWindow: UInt32 = 64
    /// 1 = request, 0 = rendezvous, -1 = response, -2 = response-2, 1002 = refused.
    public var requestType: Int32 = 1
    public var socketID: UInt32 = 0
    public var synCookie: UInt32 = 0
    public var peerAddress: [UInt8] = [UInt8](repeating: 0, count: 16)
    public init() {}
}

/// The body of a UDT ACK.
public struct UDTAck: Equatable, Sendable {
    /// The ACK's own sequence number (header "additional info"), echoed by ACK2.
    public var ackSequence: UInt32
    /// The next packet sequence number the receiver expects.
    public var ackNumber: UInt32
    public var rttMicroseconds: UInt32
    public var rttVarianceMicroseconds: UInt32
    /// Free receive buffer, in packets.
    public var availableBuffer: UInt32
    /// Link info (only in the 40-byte form).
    public var packetReceiveRate: UInt32? = nil
    public var linkCapacity: UInt32? = nil

    public init(ackSequence: UInt32, ackNumber: UInt32, rttMicroseconds: UInt32, rttVarianceMicroseconds: UInt32,
                availableBuffer: UInt32, packetReceiveRate: UInt32? = nil, linkCapacity: UInt32? = nil) {
        self.ackSequence = ackSequence
        self.ackNumber = ackNumber
        self.rttMicroseconds = rttMicroseconds
        self.rttVarianceMicroseconds = rttVarianceMicroseconds
        self.availableBuffer = availableBuffer
        self.packetReceiveRate = packetReceiveRate
        self.linkCapacity = linkCapacity
    }

    public var includesLinkInfo: Bool { packetReceiveRate != nil }
}

/// A UDT control packet: common 16-byte header plus a type-specific body.
public struct UDTControlPacket: Equatable, Sendable {
    public enum Body: Equatable, Sendable {
        case handshake(UDTHandshake)
        case keepAlive
        case ack(UDTAck)
        /// Loss list: an entry with bit 31 set starts a range ended by the next entry.
        case nak([UInt32])
        case congestionWarning
        case shutdown
        case ack2(ackSequence: UInt32)
        case messageDropRequest(messageNumber: UInt32, first: UInt32, last: UInt32)
        case error(code: UInt32)
        case userDefined(subtype: UInt16, info: UInt32, data: [UInt8])
    }

    public var timestamp: UInt32
    public var destinationSocketID: UInt32
    public var body: Body

    public init(timestamp: UInt32, destinationSocketID: UInt32, body: Body) {
        self.timestamp = timestamp
        self.destinationSocketID = destinationSocketID
        self.body = body
    }

    public func encode() -> [UInt8] {
        var type: UInt16, subtype: UInt16 = 0, info: UInt32 = 0
        var tail: [UInt8] = []
        switch body {
        case .handshake(let h):
            type = 0
            tail.appendBE(h.udtVersion)
            tail.appendBE(h.socketType)
            tail.appendBE(h.initialSequence)
            tail.appendBE(h.maxPacketSize)
            tail.appendBE(h.maxFlowWindow)
            tail.appendBE(UInt32(bitPattern: h.requestType))
            tail.appendBE(h.socketID)
            tail.appendBE(h.synCookie)
            tail += h.peerAddress.count == 16 ? h.peerAddress : [UInt8](repeating: 0, count: 16)
        case .keepAlive: type = 1
        case .ack(let a):
            type = 2
            info = a.ackSequence
            tail.appendBE(a.ackNumber)
            tail.appendBE(a.rttMicroseconds)
            tail.appendBE(a.rttVarianceMicroseconds)
            tail.appendBE(a.availableBuffer)
            if let rate = a.packetReceiveRate {
                tail.appendBE(rate)
                tail.appendBE(a.linkCapacity ?? 0)
            }
        case .nak(let list):
            type = 3
            for entry in list { tail.appendBE(entry) }
        case .congestionWarning: type = 4
        case .shutdown: type = 5
        case .ack2(let seq):
            type = 6
            info = seq
        case .messageDropRequest(let number, let first, let last):
            type = 7
            info = number
            tail.appendBE(first)
            tail.appendBE(last)
        case .error(let code):
            type = 8
            info = code
        case .userDefined(let s, let i, let data):
            type = 0x7fff
            subtype = s
            info = i
            tail = data
        }
        var out: [UInt8] = []
        out.reserveCapacity(16 + tail.count)
        out.appendBE(0x8000 | type)
        out.appendBE(subtype)
        out.appendBE(info)
        out.appendBE(timestamp)
        out.appendBE(destinationSocketID)
        out += tail
        return out
    }
}
