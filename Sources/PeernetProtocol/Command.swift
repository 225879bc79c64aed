/// The command byte of a regular packet. Unknown values are representable: the reference treats
/// them as "register the peer, ignore the payload", and so does the node.
public struct Command: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let announcement = Command(rawValue: 0)
    public static let response = Command(rawValue: 1)
    public static let ping = Command(rawValue: 2)
    public static let pong = Command(rawValue: 3)
    public static let localDiscovery = Command(rawValue: 4)
    public static let traverse = Command(rawValue: 5)
    public static let getBlock = Command(rawValue: 6)
    public static let transfer = Command(rawValue: 8)
    public static let chat = Command(rawValue: 10)

    public var description: String {
        switch rawValue {
        case 0: return "Announcement"
        case 1: return "Response"
        case 2: return "Ping"
        case 3: return "Pong"
        case 4: return "LocalDiscovery"
        case 5: return "Traverse"
        case 6: return "GetBlock"
        case 8: return "Transfer"
        case 10: return "Chat"
        default: return "Command(\(rawValue))"
        }
    }
}

/// Sizes the wire format fixes (network.md §2.7, transfer.md §9).
public enum WireLimits {
    /// 12-byte header + 65-byte signature.
    public static let packetMinimum = 77
    /// The largest payload the message encoders produce per packet (65487 - 77).
    public static let maxPayload = 65410
    /// The "internet-safe" datagram size used by transfers.
    public static let mtu = 1232
    /// Data bytes per lite packet (1232 - 18).
    public static let litePacketData = 1214
    /// Data bytes embedded in a regular Transfer packet (1232 - 77 - 34).
    public static let transferEmbed = 1121
    /// The largest payload the packet encoder accepts: the uint16 size field and one UDP datagram.
    public static let maxPacketPayload = 65507 - 77
}
