import PeernetCrypto

/// Why a node operation failed, with what to do about it.
public enum NodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No reply within the reply timeout.
    case timeout
    /// The peer has no active connection and no address was given.
    case notConnected(PublicKey)
    /// The node is stopped (or stopping).
    case stopped
    /// The request does not fit one packet (split it into several requests).
    case requestTooLarge
    /// Too many requests in flight.
    case overloaded
    /// A lookup found nothing.
    case notFound
    /// The peer runs another implementation (its user agent says so), which does not know our
    /// extension commands: it would never answer.
    case extensionUnsupported

    public var description: String {
        switch self {
        case .timeout: return "the peer did not answer in time"
        case .notConnected(let k): return "peer \(k.hexString.prefix(16))… is not connected and no address was given"
        case .stopped: return "the node is not running"
        case .requestTooLarge: return "the request does not fit into one packet"
        case .overloaded: return "too many requests in flight; try again"
        case .notFound: return "not found in the network"
        case .extensionUnsupported: return "the peer runs another implementation, which does not answer this request"
        }
    }
}

/// Something that happened in the node, for the layers above (UI, blockchain cache, FUSE).
public enum NodeEvent: Sendable, Equatable {
    /// A peer sent its first valid packet (or came back after being gone).
    case peerConnected(PublicKey)
    /// A peer's last active connection lapsed (it may come back).
    case peerDisconnected(PublicKey)
    /// A peer was forgotten after a long silence.
    case peerRemoved(PublicKey)
    /// A peer advertised a new blockchain height or version.
    case blockchainChanged(PublicKey, height: UInt64, version: UInt64)
    /// A debug chat message.
    case chat(PublicKey, String)
}

/// A snapshot of one connection, for status displays.
public struct ConnectionInfo: Sendable, Equatable, Codable {
    public let remote: String
    public let local: String
    public let status: String
    public let rttMilliseconds: Double?
    public let portInternal: UInt16
    public let portExternal: UInt16
}

/// A snapshot of one peer, for the API and `peernet peers`.
public struct PeerInfo: Sendable, Equatable, Codable {
    public let peerId: String
    public let nodeId: String
    public let userAgent: String
    public let connected: Bool
    public let isRoot: Bool
    public let blockchainHeight: UInt64
    public let blockchainVersion: UInt64
    public let features: UInt8
    public let packetsIn: Int
    public let packetsOut: Int
    public let connections: [ConnectionInfo]

    /// Whether the peer runs this implementation (nil until its user agent is known).
    public var isOurKind: Bool? { Node.isOurKind(userAgent: userAgent) }
}

/// Counters for `peernet status` and the benchmarks.
public struct NodeStatistics: Sendable, Equatable, Codable {
    public var datagramsIn = 0
    public var invalidPackets = 0
    public var rateLimited = 0
    public var queueDropped = 0
    public var litePackets = 0
    public var packetsOut = 0
    public var sendErrors = 0
    public var repliesUnmatched = 0
    /// Large replies held until a ping proved the requester's address (`Node.sendReplies`).
    public var repliesHeldForVerification = 0
    /// Traverse messages this node relayed for others.
    public var traversesRelayed = 0
}
