import Foundation
import Logging
import PeernetCrypto
import PeernetProtocol
import PeernetSupport
import Synchronization

/// One local listening network: a main socket and, with LAN discovery on, a discovery socket.
struct Network: Sendable {
    let index: Int
    let socket: UDPSocket
    var listen: Endpoint { socket.localEndpoint }
}

/// The mutable state of a node, behind one lock. Handlers run on the decode workers: they lock,
/// update the state, collect what to send into `Effects`, unlock, and only then sign and send.
struct NodeState: ~Copyable {
    var peers: [PublicKey: PeerState] = [:]
    var byNodeID: [Hash256: PublicKey] = [:]
    var routing: RoutingTable
    var sequences = SequenceTable()
    var bidirectional = BidirectionalSequences()
    var values: ValueStore
    var stats = NodeStatistics()
    /// Bootstrap memory (§8.3): per reported peer, who reported it and which addresses we tried.
    var recentReports: [PublicKey: (time: Double, origins: Set<PublicKey>, contacted: Set<Endpoint>)] = [:]
    var rootsEverConnected: Set<PublicKey> = []
    var kademliaBootstrapped = false
    var blockchainHeight: UInt64 = 0
    var blockchainVersion: UInt64 = 0
    var running = true
}

/// Work collected under the lock and carried out after it is released.
struct Effects {
    var outgoing: [Outgoing] = []
    var events: [NodeEvent] = []
    var callbacks: [@Sendable () -> Void] = []
    var tasks: [@Sendable () async -> Void] = []
}

/// A packet to sign and send to `receiver` over each of `targets` (endpoint, local network).
struct Outgoing: Sendable {
    let receiver: PublicKey
    var packet: Packet
    let targets: [(Endpoint, Int)]
}

/// An embedded Peernet node: UDP sockets, peers and connections, sequences, keep-alive,
/// bootstrap, LAN discovery and the Kademlia DHT (network.md §5-9).
///
/// Threads: one receive thread per socket reads datagrams, lets lite packets through to their
/// transfer, rate-limits each source and queues the rest; `config.workers` decode threads take
/// from the bounded queue, decrypt and verify (the expensive part, outside any lock), then
/// update the state under its lock. Timers run as a Swift task. The public API is async.
public final class Node: Sendable {
    public let key: PrivateKey
    public let config: NodeConfig
    public var publicKey: PublicKey { key.publicKey }
    public let nodeID: Hash256
    let networks: [Network]
    let discoverySockets: [(socket: UDPSocket, network: Int, receiver: PublicKey)]
    let queue: DatagramQueue
    let state: Mutex<NodeState>
    /// Subscribers of `events` (each call makes a new stream).
    private let subscribers = Mutex<[UUID: AsyncStream<NodeEvent>.Continuation]>([:])
    private let threadsDone = DispatchGroup()
    /// Timers and background jobs, by ID; a job removes itself when it ends.
    private let tasks = Mutex<(next: UInt64, running: [UInt64: Task<Void, Never>])>((0, [:]))
    /// Background jobs (value fetches after INFO_STORE, and the like) at once; more are dropped.
    /// Before, every job's handle was kept forever: each INFO_STORE record from anyone grew
    /// the node's memory for good (found by the stateful fuzz target: RSS 1.5 GB in 90 s).
    static let maxBackgroundTasks = 1024
    /// Lite packets held back by `reorderForTesting`.
    let heldBack = Mutex<[([UInt8], Endpoint, Int)]>([])
    /// Addresses sent to, for `simulateFirewallForTesting`.
    let firewallHoles = Mutex<Set<Endpoint>>([])
    /// Lite packets routed to transfers (reported in `statistics`).
    let litePacketCount = Atomic<Int>(0)
    /// Lite packets: transfer ID -> handler (the transfer layer registers sessions here).
    let liteSessions = Mutex<[TransferID: @Sendable (UnsafeRawBufferPointer, Endpoint) -> Void]>([:])
    /// Extension commands (ours, beyond the reference): command -> handler returning the reply.
    let extensions = Mutex<[UInt8: @Sendable (ReceivedPacket) -> [UInt8]?]>([:])
    /// Transfer (cmd 8) and Get Block (cmd 6) messages go to the layer that registers here.
    let transferHandler = Mutex<TransferHandler?>(nil)
    /// What this node refuses from the network, with reasons, rate-limited (peernet.log).
    let rejections = RejectionLog(Logger.peernet("node"))
    /// The closure in a struct: stored bare (`Mutex<(closure)?>`), every `withLock` access
    /// re-abstracts it and writes it back wrapped in two more thunks. Each Transfer or Get
    /// Block request deepened the chain: calls grew slower without bound until the stack
    /// overflowed (found by the stateful fuzz target; 8,000 reads took 0.5 s, boxed 0.2 ms).
    struct TransferHandler: Sendable { let call: @Sendable (ReceivedPacket, Endpoint, Int) -> Void }

    /// The well-known LAN discovery keys (network.md §6.9): packets to them are encrypted with
    /// their public halves; the private halves are public knowledge and never used to sign.
    public static let discoveryKeyIPv4 = try! PublicKey(hex: "030183fb0743f35af0d42f2b87bc356d80782a6721f87324b90a51c8ed86968c72")
    public static let discoveryKeyIPv6 = try! PublicKey(hex: "02f46ea896d094f186dfe761ac4621bb9f16c10d9d6fe4b96cc271c58873002a23")
    static let discoveryGroupIPv6 = IPv6Address("ff05::112")!
    /// Our user agent's prefix; peers sending it get full-size (k) lookup replies.
    public static let userAgentPrefix = "Peernet Swift/"

    /// The one rule for telling our nodes from others: by the user agent they send (nil while
    /// it is not known yet). Ours get larger replies, our extension commands, the fast path;
    /// others are asked for their chain state more often, since they never announce it.
    public static func isOurKind(userAgent: String) -> Bool? {
        userAgent.isEmpty ? nil : userAgent.hasPrefix(userAgentPrefix)
    }

    /// Binds every listen address (and the discovery sockets when enabled). Nothing is sent
    /// until `start()`.
    public init(key: PrivateKey, config: NodeConfig) throws {
        precondition(!config.listen.isEmpty, "a node needs at least one listen address")
        self.key = key
        self.config = config
        self.nodeID = Hash256.nodeID(of: key.publicKey)
        var nets: [Network] = []
        for (i, endpoint) in config.listen.enumerated() {
            nets.append(Network(index: i, socket: try UDPSocket(bind: endpoint, broadcast: config.localDiscovery, coalesce: true)))
        }
        networks = nets
        var discovery: [(UDPSocket, Int, PublicKey)] = []
        if config.localDiscovery {
            var haveV4 = false, haveV6 = false
            for net in nets {
                if net.listen.ip.isIPv4 && !haveV4 {
                    haveV4 = true
                    let s = try UDPSocket(bind: Endpoint(ip: .v4(.unspecified), port: config.discoveryPort), broadcast: true, reusePort: true)
                    discovery.append((s, net.index, Self.discoveryKeyIPv4))
                } else if !net.listen.ip.isIPv4 && !haveV6 {
                    haveV6 = true
                    let s = try UDPSocket(bind: Endpoint(ip: .v6(.unspecified), port: config.discoveryPort), reusePort: true)
                    _ = s.joinIPv6Multicast(Self.discoveryGroupIPv6)
                    discovery.append((s, net.index, Self.discoveryKeyIPv6))
                }
            }
        }
        discoverySockets = discovery
        queue = DatagramQueue(capacity: config.queueCapacity, capacityBytes: config.queueCapacityBytes)
        state = Mutex(NodeState(routing: RoutingTable(own: Hash256.nodeID(of: key.publicKey), bucketSize: config.bucketSize),
                                values: ValueStore(maxValues: config.maxStoredValues, maxValueSize: config.maxValueSize)))
    }

    /// A new stream of events (peer connected/gone, blockchain changed, chat); every
    /// subscriber gets every event from its subscription on (the newest 4096 are buffered).
    public var events: AsyncStream<NodeEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: NodeEvent.self, bufferingPolicy: .bufferingNewest(4096))
        let id = UUID()
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in _ = self?.subscribers.withLock { $0.removeValue(forKey: id) } }
        return stream
    }

    func publish(_ event: NodeEvent) {
        for c in subscribers.withLock({ Array($0.values) }) { c.yield(event) }
    }

    /// The addresses actually bound (ports filled in when 0 was asked for).
    public var listenEndpoints: [Endpoint] { networks.map(\.listen) }

    // MARK: Life cycle

    /// Starts the receive and decode threads, the timers, bootstrap and LAN discovery.
    public func start() {
        for net in networks { startReceiver(socket: net.socket, network: net.index, discovery: false) }
        for d in discoverySockets { startReceiver(socket: d.socket, network: d.network, discovery: true) }
        for _ in 0..<max(1, config.workers) {
            threadsDone.enter()
            let thread = Thread { [self] in
                while let datagram = queue.pop() { handle(datagram) }
                threadsDone.leave()
            }
            thread.name = "peernet-decode"
            thread.start()
        }
        let timer = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(config.timings.tick))
                if Task.isCancelled { break }
                tick()
            }
        }
        tasks.withLock { t in
            t.running[t.next] = timer
            t.next += 1
        }
        startBackgroundJobs()
    }

    /// Stops everything: threads end, pending requests fail with `.stopped`, events finish.
    public func stop() async {
        let pending: [SequenceTable.Entry] = state.withLock { s in
            s.running = false
            return s.sequences.removeAll()
        }
        for entry in pending { Self.fail(entry.purpose, .stopped)() }
        for task in tasks.withLock({ t in defer { t.running = [:] }; return Array(t.running.values) }) { task.cancel() }
        queue.close()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            threadsDone.notify(queue: .global()) { c.resume() }
        }
        for net in networks { net.socket.close() }
        for d in discoverySockets { d.socket.close() }
        for c in subscribers.withLock({ s in defer { s = [:] }; return Array(s.values) }) { c.finish() }
    }

    var isRunning: Bool { state.withLock { $0.running } }

    /// Runs a background job; dropped when `maxBackgroundTasks` are running already.
    func addTask(_ body: @escaping @Sendable () async -> Void) {
        tasks.withLock { t in
            guard t.running.count < Self.maxBackgroundTasks else { return }
            let id = t.next
            t.next += 1
            // Created under the lock, so its own removal (which takes the lock) comes after.
            t.running[id] = Task { [weak self] in
                await body()
                _ = self?.tasks.withLock { $0.running.removeValue(forKey: id) }
            }
        }
    }

    /// Timers and background jobs running now (for tests and status).
    package var backgroundTaskCount: Int { tasks.withLock { $0.running.count } }

    private func startReceiver(socket: UDPSocket, network: Int, discovery: Bool) {
        threadsDone.enter()
        let thread = Thread { [self] in
            var limiter = SourceRateLimiter(rate: config.perSourceRate, burst: config.perSourceBurst)
            var hosts = HostLimiter(rate: config.perHostRate, burst: config.perHostBurst,
                                    byteRate: config.perHostByteRate, byteBurst: config.perHostByteBurst)
            // Up to 32 datagrams per system call (recvmmsg); with UDP GRO, the kernel hands over
            // runs of one flow's datagrams coalesced, and the receiver splits them again.
            let receiver = UDPBatchReceiver(socket: socket, count: 32)
            while isRunning {
                receiver.receive { raw, from in
                    let n = raw.count
                    // A transfer's datagram goes to its session straight from the receive
                    // buffer: copying each out first was 2.3 % of a fast-path transfer's CPU.
                    if !discovery, n >= LitePacket.headerSize, let id = LitePacket.peekID(raw),
                       let session = liteSessions.withLock({ $0[id] }) {
                        litePacketCount.add(1, ordering: .relaxed)  // not under the state lock: one per data packet
                        session(raw, from)
                        return
                    }
                    guard n >= WireLimits.packetMinimum else { return }
                    let bytes = Array(raw)
                    if config.simulateFirewallForTesting && !firewallHoles.withLock({ $0.contains(from) }) { return }
                    let now = monotonicNow()
                    guard limiter.allow(from, now: now), hosts.allow(from.ip, bytes: n, now: now) else {
                        state.withLock { $0.stats.rateLimited += 1 }
                        rejections.reject("over the rate limit of its address or host", "datagrams from \(from) dropped")
                        return
                    }
                    if !queue.push(InboundDatagram(bytes: bytes, source: from, network: network, discovery: discovery)) {
                        state.withLock { $0.stats.queueDropped += 1 }
                        rejections.reject("receive queue full", "a datagram from \(from) dropped (\(config.queueCapacity) datagrams or \(config.queueCapacityBytes) bytes queued)")
                    }
                }
            }
            threadsDone.leave()
        }
        thread.name = "peernet-recv"
        thread.start()
    }

    // MARK: Sending

    /// Signs and sends collected packets, then runs callbacks and publishes events.
    func perform(_ effects: Effects) {
        for out in effects.outgoing { send(out) }
        for event in effects.events { publish(event) }
        for callback in effects.callbacks { callback() }
        for job in effects.tasks { addTask(job) }
    }

    func send(_ out: Outgoing) {
        var sent = 0, failed = 0
        for (endpoint, networkIndex) in out.targets where networkIndex < networks.count {
            let net = networks[networkIndex]
            var packet = out.packet
            if packet.command == .announcement || packet.command == .response {
                MessagePorts.set(internal: net.listen.port, external: config.portForward, in: &packet.payload)
            }
            guard let raw = try? PacketCodec.encode(packet, sender: key, receiver: out.receiver) else { failed += 1; continue }
            if config.simulateFirewallForTesting { firewallHoles.withLock { _ = $0.insert(endpoint) } }
            if net.socket.send(raw, to: endpoint) { sent += 1 } else { failed += 1 }
        }
        state.withLock { s in
            s.stats.packetsOut += sent
            s.stats.sendErrors += failed
            s.peers[out.receiver]?.packetsOut += sent
        }
    }

    /// Sends a raw datagram from a network's main socket (lite packets of transfers).
    @discardableResult
    public func sendRaw(_ bytes: [UInt8], to endpoint: Endpoint, network: Int) -> Bool {
        guard network < networks.count else { return false }
        if config.lossForTesting > 0 || config.reorderForTesting > 0 {
            if Double.random(in: 0..<1) < config.lossForTesting { return true }
            if Double.random(in: 0..<1) < config.reorderForTesting {
                heldBack.withLock { $0.append((bytes, endpoint, network)) }
                return true
            }
            let held = heldBack.withLock { h in defer { h = [] }; return h }
            let ok = networks[network].socket.send(bytes, to: endpoint)
            for (b, e, n) in held { networks[n].socket.send(b, to: e) }
            return ok
        }
        return networks[network].socket.send(bytes, to: endpoint)
    }

    /// Sends raw datagrams to one address in as few system calls as possible (UDP GSO, else
    /// sendmmsg): the lite packets a transfer's pump produced together.
    @discardableResult
    public func sendRaw(batch: [[UInt8]], to endpoint: Endpoint, network: Int) -> Int {
        guard network < networks.count else { return 0 }
        if config.lossForTesting > 0 || config.reorderForTesting > 0 {
            return batch.reduce(0) { $0 + (sendRaw($1, to: endpoint, network: network) ? 1 : 0) }
        }
        return networks[network].socket.send(batch: batch, to: endpoint)
    }

    /// Targets for a packet to `peer`: its preferred connection, else all up connections; for
    /// an unknown or disconnected peer, `fallback` addresses from every local network of the
    /// same family (the first-contact path, §6.4).
    func targets(for peer: PublicKey, fallback: [Endpoint], in s: borrowing NodeState) -> [(Endpoint, Int)] {
        if let p = s.peers[peer] {
            let up = p.sendConnections
            if !up.isEmpty { return up.map { ($0.remote, $0.network) } }
        }
        return firstContactTargets(fallback)
    }

    func firstContactTargets(_ endpoints: [Endpoint]) -> [(Endpoint, Int)] {
        var out: [(Endpoint, Int)] = []
        for endpoint in endpoints {
            for net in networks where net.listen.ip.isIPv4 == endpoint.ip.isIPv4 {
                // Link-local targets only from link-local listeners and vice versa (wildcards match both).
                if !net.listen.ip.isUnspecified && net.listen.ip.isLinkLocal != endpoint.ip.isLinkLocal { continue }
                // Loopback listeners cannot reach other hosts; other listeners reach loopback only when wildcard.
                if net.listen.ip.isLoopback != endpoint.ip.isLoopback && !net.listen.ip.isUnspecified { continue }
                out.append((endpoint, net.index))
            }
        }
        return out
    }

    // MARK: Our header

    var features: Features {
        var f: Features = []
        for net in networks where !net.listen.ip.isLinkLocal {
            if net.listen.ip.isIPv4 { f.insert(.ipv4Listen) } else { f.insert(.ipv6Listen) }
        }
        if config.localFirewall { f.insert(.firewall) }
        return f
    }

    func header(in s: borrowing NodeState) -> MessageHeader {
        MessageHeader(features: features, blockchainHeight: s.blockchainHeight, blockchainVersion: s.blockchainVersion,
                      userAgent: config.userAgent)
    }

    /// Sets the height and version of our own blockchain, advertised in every Announcement and
    /// Response from now on.
    /// A change is announced to connected peers right away (an empty Announcement, whose
    /// header carries height and version), instead of waiting for their next refresh.
    public func setBlockchain(height: UInt64, version: UInt64) {
        var effects = Effects()
        state.withLock { s in
            let changed = s.blockchainHeight != height || s.blockchainVersion != version
            s.blockchainHeight = height
            s.blockchainVersion = version
            guard changed, s.running else { return }
            let payload = Announcement(header: header(in: s)).encode(sendUserAgent: false)[0]
            let now = monotonicNow()
            for key in Array(s.peers.keys) {
                guard let peer = s.peers[key], peer.isConnected else { continue }
                let seq = s.peers[key]!.nextSequence()
                _ = s.sequences.open(peer: key, sequence: seq, now: now, timeout: config.timings.replyTimeout, purpose: .none)
                effects.outgoing.append(Outgoing(receiver: key, packet: Packet(command: .announcement, sequence: seq, payload: payload),
                                                 targets: targets(for: key, fallback: [], in: s)))
            }
        }
        perform(effects)
    }

    static func fail(_ purpose: RequestPurpose, _ error: NodeError) -> @Sendable () -> Void {
        switch purpose {
        case .awaiting(let h): return { h(.failure(error)) }
        case .awaitingPong(let h): return { h(.failure(error)) }
        case .awaitingExtension(let h): return { h(.failure(error)) }
        case .none, .bootstrap: return {}
        }
    }
}
