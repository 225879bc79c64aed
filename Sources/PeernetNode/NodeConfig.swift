import PeernetCrypto
import PeernetProtocol

/// A root peer: a known public key and its addresses (the reference's SeedList entry).
public struct RootPeer: Sendable, Equatable {
    public var publicKey: PublicKey
    public var addresses: [Endpoint]
    public init(publicKey: PublicKey, addresses: [Endpoint]) {
        self.publicKey = publicKey
        self.addresses = addresses
    }
}

/// Every timer of the node. Defaults are the reference's (network.md Appendix B); tests pass
/// short ones so a 22-second silence takes half a second.
public struct NodeTimings: Sendable {
    /// Keep-alive and housekeeping tick.
    public var tick: Double = 1
    /// Ping an idle active connection after this long without incoming packets.
    public var pingInterval: Double = 10
    /// Mark an active connection inactive after this long without incoming packets.
    public var invalidateAfter: Double = 22
    /// Redundant connections use this multiple of the two above.
    public var redundantFactor: Double = 4
    /// An inactive connection is removed this long after it became inactive.
    public var removeInactiveAfter: Double = 120
    /// A peer without any active connection is forgotten after this long (the reference
    /// never forgets peers and pings them forever).
    public var forgetPeerAfter: Double = 600
    /// Refresh a peer's blockchain height/version with an empty Announcement this often.
    public var blockchainRefresh: Double = 60
    /// The same for peers of another implementation, more often: nodes of ours announce every
    /// change at once, but a reference node never does (it only asks its own peers every 60 s),
    /// so a file it shares would otherwise take up to a minute to appear (measured: 60.5 s).
    public var foreignBlockchainRefresh: Double = 15
    /// How long a request waits for its first Response / Pong.
    public var replyTimeout: Double = 20
    /// How long a multi-part Response waits for its next part.
    public var replyPartTimeout: Double = 10
    /// One lookup round's wait for replies, and the whole lookup's deadline.
    public var lookupRoundTimeout: Double = 6
    public var lookupTimeout: Double = 10
    /// Root-peer bootstrap: phase 1 interval and count, phase 2 interval and count.
    public var bootstrapPhase1: (interval: Double, count: Int) = (7, 85)
    public var bootstrapPhase2: (interval: Double, count: Int) = (300, 12)
    /// Bucket refresh of sparse buckets, and of all buckets.
    public var bucketRefresh: Double = 300
    public var fullBucketRefresh: Double = 3600
    /// LAN discovery: until the first peer, then afterwards.
    public var discoveryFast: Double = 10
    public var discoverySlow: Double = 600
    /// Values stored for others expire after this long unless republished; owners republish
    /// at half of it.
    public var valueExpiry: Double = 3600
    public init() {}

    /// Timers scaled for tests on loopback: everything about 40 times faster.
    public static var fastForTests: NodeTimings {
        var t = NodeTimings()
        t.tick = 0.05
        t.pingInterval = 0.25
        t.invalidateAfter = 0.6
        t.removeInactiveAfter = 1
        t.forgetPeerAfter = 2
        t.blockchainRefresh = 1.5
        t.foreignBlockchainRefresh = 0.5
        t.replyTimeout = 2
        t.replyPartTimeout = 1
        t.lookupRoundTimeout = 1
        t.lookupTimeout = 5
        t.bootstrapPhase1 = (0.3, 20)
        t.bootstrapPhase2 = (2, 3)
        t.bucketRefresh = 5
        t.fullBucketRefresh = 30
        t.discoveryFast = 0.5
        t.discoverySlow = 5
        t.valueExpiry = 30
        return t
    }

    /// `fastForTests`, but a peer is judged gone only after 3 s of silence, not 0.6 s: under
    /// two CPU hogs a pong can come later than 0.6 s, and tests lost their peer between a
    /// "connected" check and the next send ("is not connected", "no peer holding this file").
    /// The default of the test suites; tests of peer removal set their own.
    public static var steadyForTests: NodeTimings {
        var t = fastForTests
        t.invalidateAfter = 3
        t.removeInactiveAfter = 5
        t.forgetPeerAfter = 10
        return t
    }
}

/// What a node needs to run. There is no "default network" here: the front end decides
/// (the real root peers and LAN discovery for users, loopback-only for tests).
public struct NodeConfig: Sendable {
    /// Addresses to listen on ("127.0.0.1:7001"); port 0 picks a free one.
    public var listen: [Endpoint]
    public var rootPeers: [RootPeer] = []
    public var localDiscovery: Bool = false
    /// Sets feature bit 2 (FIREWALL).
    public var localFirewall: Bool = false
    /// Manually forwarded external port reported to peers (0 = none).
    public var portForward: UInt16 = 0
    public var userAgent: String = Node.userAgentPrefix + "0.1"
    public var timings = NodeTimings()
    /// Decode workers per node.
    public var workers: Int = 2
    /// Inbound queue size and per-source rate limit (datagrams/s, burst).
    public var queueCapacity: Int = 8192
    /// Bytes the inbound queue may hold (8,192 datagrams of up to 64 KiB were 512 MiB).
    public var queueCapacityBytes: Int = 16 << 20
    public var perSourceRate: Double = 5000
    public var perSourceBurst: Double = 10000
    /// What one host (IP address, all its ports together) may send outside transfer sessions,
    /// per second and in a burst, in datagrams and in bytes: one host with 256 ports had 256
    /// budgets. Generous for honest traffic (control messages are small, and transfers travel in
    /// lite packets of known sessions, which are not counted), and for the many nodes a test
    /// runs on 127.0.0.1.
    public var perHostRate: Double = 20_000
    public var perHostBurst: Double = 40_000
    public var perHostByteRate: Double = 33_554_432
    public var perHostByteBurst: Double = 67_108_864
    /// Records per hash in our Responses to reference nodes (they send 5, sized for 508-byte
    /// packets, and take at most 3 from a reply).
    public var responseClosestCount: Int = 5
    /// Records per hash to nodes of this implementation (recognised by user agent): a full k,
    /// as Kademlia needs for lookups to return the true k closest.
    public var responseClosestCountOwnKind: Int = 20
    /// Keys answered per Announcement; further keys are ignored. Bounds the reply to a forged
    /// 2000-key Announcement (the reference's amplification, network.md §10 item 13).
    public var maxKeysPerAnnouncement: Int = 64
    /// Reply bytes sent to an address that no round trip has proved yet; larger replies wait
    /// for a ping's pong from it (`Node.sendReplies`: no reflection through forged sources).
    public var maxReplyBytesUnverified: Int = 8 * 1024
    /// Kademlia parameters.
    public var bucketSize: Int = 20
    public var alpha: Int = 5
    /// Local DHT value store limits.
    public var maxValueSize: Int = 65_346
    public var maxStoredValues: Int = 10_000
    /// The discovery port and groups (tests inside a network namespace may change the port).
    public var discoveryPort: UInt16 = 12912

    /// Test-only stand-in for a stateful firewall in front of the node: datagrams are accepted
    /// only from addresses this node has sent to. Lets loopback tests exercise Traverse.
    public var simulateFirewallForTesting = false
    /// Test-only lossy link for lite packets (transfers): drop this fraction of outgoing lite
    /// packets, and hold back `reorderForTesting` of them to send after the next one.
    public var lossForTesting: Double = 0
    public var reorderForTesting: Double = 0

    public init(listen: [Endpoint]) { self.listen = listen }
}
