/// Feature bits of Announcement/Response byte 1 and peer-record byte 69 (bits 0-6).
public struct Features: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Listens on a non-link-local IPv4 address.
    public static let ipv4Listen = Features(rawValue: 1 << 0)
    /// Listens on a non-link-local IPv6 address.
    public static let ipv6Listen = Features(rawValue: 1 << 1)
    /// Unsolicited packets may be dropped: first contact should use Traverse.
    public static let firewall = Features(rawValue: 1 << 2)
}

/// The 24-byte header (+ user agent) shared by Announcement, Response and Local Discovery:
/// version, features, actions, blockchain height and version, ports, user agent.
public struct MessageHeader: Equatable, Sendable {
    public static let size = 24
    /// Only the low 4 bits travel; the reference never checks them.
    public var protocolVersion: UInt8 = 0
    public var features: Features = []
    public var blockchainHeight: UInt64 = 0
    public var blockchainVersion: UInt64 = 0
    /// The sender's listening port (filled by the node right before sending).
    public var portInternal: UInt16 = 0
    /// The sender's external port if known (UPnP / port forward); 0 = unknown.
    public var portExternal: UInt16 = 0
    /// "Software/Version"; empty = not sent.
    public var userAgent: String = ""

    public init(features: Features = [], blockchainHeight: UInt64 = 0, blockchainVersion: UInt64 = 0,
                portInternal: UInt16 = 0, portExternal: UInt16 = 0, userAgent: String = "") {
        self.features = features
        self.blockchainHeight = blockchainHeight
        self.blockchainVersion = blockchainVersion
        self.portInternal = portInternal
        self.portExternal = portExternal
        self.userAgent = userAgent
    }

    /// The user agent's bytes, cut to at most 255 at a character boundary (the reference cuts
    /// at byte 255 and may split a character, which makes receivers reject the message).
    static func userAgentBytes(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for scalar in text.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            if out.count + encoded.count > 255 { break }
            out += encoded
        }
        return out
    }

    /// Appends the header with the given action bits and (if `sendUserAgent`) the user agent.
    func encode(actions: UInt8, sendUserAgent: Bool, into out: inout [UInt8]) {
        let ua = sendUserAgent ? Self.userAgentBytes(userAgent) : []
        out.append(protocolVersion & 0x0f)
        out.append(features.rawValue)
        out.append(actions)
        out.appendLE(blockchainHeight)
        out.appendLE(blockchainVersion)
        out.appendLE(portInternal)
        out.appendLE(portExternal)
        out.append(UInt8(ua.count))
        out.append(contentsOf: ua)
    }

    /// Reads the header; returns it with the raw action bits.
    static func decode(_ r: inout ByteReader) throws(ProtocolError) -> (MessageHeader, UInt8) {
        try r.require(size)
        var h = MessageHeader()
        h.protocolVersion = try r.u8() & 0x0f
        h.features = Features(rawValue: try r.u8())
        let actions = try r.u8()
        h.blockchainHeight = try r.u64le()
        h.blockchainVersion = try r.u64le()
        h.portInternal = try r.u16le()
        h.portExternal = try r.u16le()
        let uaLength = Int(try r.u8())
        let ua = try r.take(uaLength, "user agent")
        guard let text = String(validating: ua, as: UTF8.self) else { throw .invalidUTF8(what: "\(r.what) user agent") }
        h.userAgent = text
        return (h, actions)
    }
}

/// Bytes 19..22 of an encoded Announcement/Response: the node writes its ports right before
/// encrypting, per connection (the reference does the same).
public enum MessagePorts {
    public static func set(internal portInternal: UInt16, external portExternal: UInt16, in payload: inout [UInt8]) {
        guard payload.count >= MessageHeader.size else { return }
        payload.storeLE(portInternal, at: 19)
        payload.storeLE(portExternal, at: 21)
    }
}
