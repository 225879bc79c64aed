import PeernetCrypto
import PeernetProtocol

/// One path to a peer: its address as seen from one of our listening networks (network.md §6.3).
struct ConnectionState: Sendable {
    enum Status: String, Sendable { case active, redundant, inactive }
    var remote: Endpoint
    var network: Int
    var status: Status = .active
    /// Ports the peer reported over this connection (0 until an Announcement/Response came).
    var portInternal: UInt16 = 0
    var portExternal: UInt16 = 0
    var firewall = false
    var lastPacketIn: Double
    var lastPingOut: Double = 0
    var rtt: Double?
    var inactiveSince: Double = 0

    /// Same remote IP on the same local network; the port may change (NAT rotation).
    func matches(_ ip: IPAddress, network n: Int) -> Bool { remote.ip == ip && network == n }
    var isUp: Bool { status != .inactive }
    /// The address to contact: the reported external port if any, else the observed one.
    var contactEndpoint: Endpoint { remote }
}

/// Everything the node knows about one peer (network.md §6.2).
struct PeerState: Sendable {
    let publicKey: PublicKey
    let nodeID: Hash256
    var connections: [ConnectionState] = []
    /// Index into `connections` of the preferred ("latest") connection.
    var preferred: Int?
    var userAgent = ""
    /// Whether the peer runs this implementation (nil until its user agent is known).
    var isOurKind: Bool? { Node.isOurKind(userAgent: userAgent) }
    var features: Features = []
    var blockchainHeight: UInt64 = 0
    var blockchainVersion: UInt64 = 0
    var lastBlockchainInfo: Double = 0
    var isRoot = false
    var packetsIn = 0
    var packetsOut = 0
    var firstSeen: Double
    var lastSeen: Double
    /// Per-peer sequence counter, random start (§5.1).
    var sequenceCounter = UInt32.random(in: 0...UInt32.max)

    init(publicKey: PublicKey, now: Double) {
        self.publicKey = publicKey
        self.nodeID = Hash256.nodeID(of: publicKey)
        self.firstSeen = now
        self.lastSeen = now
    }

    var isConnected: Bool { connections.contains { $0.isUp } }

    mutating func nextSequence() -> UInt32 {
        sequenceCounter &+= 1
        return sequenceCounter
    }

    /// The RTT of the preferred connection, else of the first up connection that has one.
    var rtt: Double? {
        if let p = preferred, connections[p].isUp, let r = connections[p].rtt { return r }
        return connections.first { $0.isUp && $0.rtt != nil }?.rtt
    }

    /// Registers a packet from `source` on `network`: that connection becomes active and
    /// preferred, other up connections become redundant. Returns the connection's index.
    mutating func registerPacket(from source: Endpoint, network: Int, now: Double) -> Int {
        lastSeen = now
        packetsIn += 1
        let index: Int
        if let i = connections.firstIndex(where: { $0.matches(source.ip, network: network) }) {
            connections[i].remote.port = source.port
            index = i
        } else {
            connections.append(ConnectionState(remote: source, network: network, lastPacketIn: now))
            index = connections.count - 1
        }
        connections[index].status = .active
        connections[index].lastPacketIn = now
        for i in connections.indices where i != index && connections[i].status == .active {
            connections[i].status = .redundant
        }
        preferred = index
        return index
    }

    /// The connections to send on: the preferred one if up, else every up connection.
    var sendConnections: [ConnectionState] {
        if let p = preferred, connections[p].isUp { return [connections[p]] }
        return connections.filter { $0.isUp }
    }
}
