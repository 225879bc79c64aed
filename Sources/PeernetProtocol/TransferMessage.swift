/// Transfer (command 8): starts, feeds or ends a file transfer (transfer.md §2).
public struct TransferMessage: Equatable, Sendable {
    public enum Control: UInt8, Sendable {
        case requestStart = 0, notAvailable = 1, active = 2, terminate = 3
    }
    public static let headerSize = 34
    public static let requestSize = 66

    public var control: Control
    /// 0 = UDT over lite packets (the only defined value).
    public var transferProtocol: UInt8 = 0
    public var hash: Hash256
    public var offset: UInt64 = 0
    /// Bytes from `offset`; 0 = to the end of the file.
    public var limit: UInt64 = 0
    public var transferID: TransferID = .zero
    /// Embedded data of an `active` message.
    public var data: [UInt8] = []

    public init(control: Control, hash: Hash256, transferProtocol: UInt8 = 0) {
        self.control = control
        self.hash = hash
        self.transferProtocol = transferProtocol
    }

    public static func request(hash: Hash256, offset: UInt64, limit: UInt64, transferID: TransferID) -> TransferMessage {
        var m = TransferMessage(control: .requestStart, hash: hash)
        m.offset = offset
        m.limit = limit
        m.transferID = transferID
        return m
    }

    /// Controls 1 and 3 end the bidirectional sequence.
    public var isLast: Bool { control == .notAvailable || control == .terminate }

    public func encode() throws(ProtocolError) -> [UInt8] {
        var out: [UInt8] = [control.rawValue, transferProtocol]
        out += hash.bytes
        switch control {
        case .requestStart:
            out.appendLE(offset)
            out.appendLE(limit)
            out += transferID.bytes
        case .active:
            guard Self.headerSize + data.count <= WireLimits.maxPayload else {
                throw .tooLarge(what: "transfer data", size: data.count, limit: WireLimits.maxPayload - Self.headerSize)
            }
            out += data
        case .notAvailable, .terminate: break
        }
        return out
    }

    /// Decodes a payload; a request-start needs all 66 bytes (the reference checks 50 and then
    /// reads to 66, which crashes it on 50-65-byte payloads).
    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> TransferMessage {
        var r = ByteReader(payload, what: "transfer")
        try r.require(headerSize)
        let raw = try r.u8()
        guard let control = Control(rawValue: raw) else {
            throw .invalidField(what: "transfer control", reason: "unknown value \(raw)")
        }
        var m = TransferMessage(control: control, hash: .zero, transferProtocol: try r.u8())
        m.hash = try r.hash()
        switch control {
        case .requestStart:
            try r.require(32, "request")
            m.offset = try r.u64le()
            m.limit = try r.u64le()
            m.transferID = TransferID(unchecked: try r.take(16))
        case .active:
            m.data = r.rest()
        case .notAvailable, .terminate: break
        }
        return m
    }
}
