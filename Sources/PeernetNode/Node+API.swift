import Foundation
import PeernetCrypto
import PeernetProtocol

extension Node {
    // MARK: Contacting peers

    /// First contact with a known key at known addresses (a root peer, a peer given by hand):
    /// an Announcement with the user agent and FIND_SELF, whose Response bootstraps (§6.4, §8.3).
    public func contact(_ peer: PublicKey, at endpoints: [Endpoint]) {
        guard peer != key.publicKey else { return }
        var effects = Effects()
        state.withLock { s in
            guard s.running else { return }
            queueBootstrapAnnouncement(to: peer, at: endpoints, now: monotonicNow(), in: &s, effects: &effects)
        }
        perform(effects)
    }

    func queueBootstrapAnnouncement(to peer: PublicKey, at endpoints: [Endpoint], now: Double, in s: inout NodeState,
                                    effects: inout Effects) {
        let payload = Announcement(header: header(in: s), findSelf: true).encode(sendUserAgent: true)[0]
        let connected = s.peers[peer]?.isConnected ?? false
        let targets = connected ? targets(for: peer, fallback: [], in: s) : firstContactTargets(endpoints)
        // Each copy of a first contact gets its own random sequence (§5.1).
        for target in targets {
            let seq = s.peers[peer]?.nextSequence() ?? UInt32.random(in: 0...UInt32.max)
            _ = s.sequences.open(peer: peer, sequence: seq, now: now, timeout: config.timings.replyTimeout, purpose: .bootstrap)
            effects.outgoing.append(Outgoing(receiver: peer, packet: Packet(command: .announcement, sequence: seq, payload: payload),
                                             targets: [target]))
        }
    }

    /// Sends an Announcement to `peer` and returns its Response parts. A connected peer is
    /// reached over its connections; otherwise `endpoints` are used (first contact).
    /// With `traverseVia`, a first contact also goes as a Traverse through that connected peer,
    /// for targets behind NAT or a firewall (§6.8).
    public func request(_ announcement: Announcement, to peer: PublicKey, at endpoints: [Endpoint] = [],
                        sendUserAgent: Bool = false, timeout: Double? = nil,
                        traverseVia relay: PublicKey? = nil) async throws(NodeError) -> [Response] {
        let parts = announcement.encode(sendUserAgent: sendUserAgent)
        guard parts.count == 1 else { throw .requestTooLarge }
        return try await sendAwaitingReply(to: peer, at: endpoints, timeout: timeout,
                                           purpose: { .awaiting($0) },
                                           packet: { Packet(command: .announcement, sequence: $0, payload: parts[0]) },
                                           alsoSend: { packet, s in
            // First contact through a relay as well, for targets behind NAT or a firewall.
            guard let relay, s.peers[peer]?.isConnected != true, s.peers[relay]?.isConnected == true,
                  let traverse = traversePacket(packet, to: peer, via: relay) else { return [] }
            return [Outgoing(receiver: relay, packet: traverse, targets: self.targets(for: relay, fallback: [], in: s))]
        })
    }

    /// The common part of every request that awaits a reply: a fresh sequence number for
    /// `peer`, the sequence opened with `purpose` (which resumes the caller), the packet sent
    /// to the peer's connections or else to `endpoints`, plus whatever `alsoSend` adds.
    func sendAwaitingReply<T: Sendable>(to peer: PublicKey, at endpoints: [Endpoint], timeout: Double?,
                                        purpose: (@escaping @Sendable (Result<T, NodeError>) -> Void) -> RequestPurpose,
                                        packet: (UInt32) -> Packet,
                                        alsoSend: (Packet, borrowing NodeState) -> [Outgoing] = { _, _ in [] }) async throws(NodeError) -> T {
        let result: Result<T, NodeError> = await withCheckedContinuation { continuation in
            var effects = Effects()
            let error: NodeError? = state.withLock { s in
                guard s.running else { return .stopped }
                let targets = targets(for: peer, fallback: endpoints, in: s)
                guard !targets.isEmpty else { return .notConnected(peer) }
                let seq = s.peers[peer]?.nextSequence() ?? UInt32.random(in: 0...UInt32.max)
                guard s.sequences.open(peer: peer, sequence: seq, now: monotonicNow(), timeout: timeout ?? config.timings.replyTimeout,
                                       purpose: purpose { continuation.resume(returning: $0) }) else { return .overloaded }
                let p = packet(seq)
                effects.outgoing.append(Outgoing(receiver: peer, packet: p, targets: targets))
                effects.outgoing += alsoSend(p, s)
                return nil
            }
            if let error { continuation.resume(returning: .failure(error)) } else { perform(effects) }
        }
        return try result.get()
    }

    /// Wraps an Announcement to `target` into a Traverse for `relay`: the embedded packet is
    /// encrypted to the target and signed by us, the whole valid for one hour.
    func traversePacket(_ packet: Packet, to target: PublicKey, via relay: PublicKey) -> Packet? {
        var inner = packet
        if let net = networks.first {
            MessagePorts.set(internal: net.listen.port, external: config.portForward, in: &inner.payload)
        }
        guard let embedded = try? PacketCodec.encode(inner, sender: key, receiver: target),
              let traverse = try? Traverse.signed(by: key, target: target, relay: relay, expires: UInt64(Date.unixNow + 3600),
                                                  embeddedPacket: embedded) else { return nil }
        return Packet(command: .traverse, sequence: 0, payload: traverse.encode())
    }

    /// Pings a connected peer; returns the round-trip time in seconds.
    public func ping(_ peer: PublicKey, timeout: Double? = nil) async throws(NodeError) -> Double {
        try await sendAwaitingReply(to: peer, at: [], timeout: timeout, purpose: { .awaitingPong($0) },
                                    packet: { Packet(command: .ping, sequence: $0) })
    }

    /// Sends a debug chat message (command 10, sequence 0) to a connected peer.
    public func chat(_ text: String, to peer: PublicKey) throws {
        let payload = try ChatMessage.encode(text)
        try sendPacket(Packet(command: .chat, sequence: 0, payload: payload), to: peer)
    }

    /// Sends a packet to a connected peer (used by the transfer layer).
    public func sendPacket(_ packet: Packet, to peer: PublicKey) throws(NodeError) {
        let paths: [(Endpoint, Int)] = state.withLock { s in targets(for: peer, fallback: [], in: s) }
        guard !paths.isEmpty else { throw .notConnected(peer) }
        send(Outgoing(receiver: peer, packet: packet, targets: paths))
    }

    /// A new bidirectional-style sequence number for `peer` (transfers).
    public func nextSequence(for peer: PublicKey) -> UInt32 {
        state.withLock { s in s.peers[peer]?.nextSequence() ?? UInt32.random(in: 0...UInt32.max) }
    }

    // MARK: Extensions

    /// Handles requests of an extension command (a number the reference does not use, so its
    /// nodes ignore it). Payload byte 0 is the message kind: odd = request, even = reply.
    public func registerExtension(_ command: Command, handler: @escaping @Sendable (ReceivedPacket) -> [UInt8]?) {
        extensions.withLock { $0[command.rawValue] = handler }
    }

    /// Sends an extension request to a connected peer (or to `endpoints`) and awaits its reply.
    public func requestExtension(_ command: Command, payload: [UInt8], to peer: PublicKey, at endpoints: [Endpoint] = [],
                                 timeout: Double? = nil) async throws(NodeError) -> [UInt8] {
        // A peer whose user agent is known and not ours is not asked: reference nodes drop
        // unknown commands, and every such request would wait out its timeout (a download from a
        // reference holder spent 10 s asking it for a Merkle tree and for provider records).
        if state.withLock({ $0.peers[peer]?.isOurKind }) == false { throw .extensionUnsupported }
        return try await sendAwaitingReply(to: peer, at: endpoints, timeout: timeout, purpose: { .awaitingExtension($0) },
                                    packet: { Packet(command: command, sequence: $0, payload: payload) })
    }

    // MARK: Lite sessions and transfers

    /// Opens a bidirectional sequence with `peer` (§5.3): later Transfer / Get Block messages
    /// from that peer with this sequence go to `handler` until a last control, or until
    /// `timeout` seconds pass without one (then `onExpire` runs). The timeout slides: 60 s for
    /// file transfers and 10 s for block transfers in the reference.
    public func openBidirectionalSequence(peer: PublicKey, sequence: UInt32, timeout: Double,
                                          handler: @escaping @Sendable (ReceivedPacket, Endpoint) -> Void,
                                          onExpire: @escaping @Sendable () -> Void = {}) -> Bool {
        let replaced = state.withLock { s in
            s.bidirectional.open(peer: peer, sequence: sequence, now: monotonicNow(), timeout: timeout,
                                 handler: handler, onExpire: onExpire)
        }
        replaced?()
        return replaced != nil
    }

    public func closeBidirectionalSequence(peer: PublicKey, sequence: UInt32) {
        state.withLock { $0.bidirectional.close(peer: peer, sequence: sequence) }
    }

    /// Routes lite packets whose first 16 bytes are `id` to `handler` (raw datagram, source).
    /// `handler` gets each datagram of the transfer in the receiver's buffer: valid only during
    /// the call (copy what must outlive it).
    public func registerLiteSession(_ id: TransferID, handler: @escaping @Sendable (UnsafeRawBufferPointer, Endpoint) -> Void) {
        liteSessions.withLock { $0[id] = handler }
    }

    public func removeLiteSession(_ id: TransferID) {
        liteSessions.withLock { $0[id] = nil }
    }

    /// Receives Transfer and Get Block packets (after the sender was registered).
    public func setTransferHandler(_ handler: (@Sendable (ReceivedPacket, Endpoint, Int) -> Void)?) {
        transferHandler.withLock { $0 = handler.map(TransferHandler.init) }
    }

    /// Where packets to `peer` go now (its preferred connection): for raw lite packets.
    public func path(to peer: PublicKey) -> (endpoint: Endpoint, network: Int)? {
        state.withLock { s in targets(for: peer, fallback: [], in: s).first.map { ($0.0, $0.1) } }
    }

    /// Our blockchain height and version as advertised.
    public var blockchainState: (height: UInt64, version: UInt64) {
        state.withLock { ($0.blockchainHeight, $0.blockchainVersion) }
    }

    // MARK: Inspection

    /// Every known peer, connected first.
    public func peers() -> [PeerInfo] {
        state.withLock { s in
            s.peers.values.map { info($0) }.sorted { ($0.connected ? 0 : 1, $0.peerId) < ($1.connected ? 0 : 1, $1.peerId) }
        }
    }

    public func peer(_ key: PublicKey) -> PeerInfo? { state.withLock { s in s.peers[key].map { info($0) } } }

    public func isConnected(_ key: PublicKey) -> Bool { state.withLock { $0.peers[key]?.isConnected ?? false } }

    public var statistics: NodeStatistics {
        var stats = state.withLock { $0.stats }
        stats.queueDropped = max(stats.queueDropped, queue.dropped)
        stats.litePackets = litePacketCount.load(ordering: .relaxed)
        return stats
    }

    /// Node IDs in the routing table.
    public var routingTableSize: Int { state.withLock { $0.routing.count } }

    func info(_ p: PeerState) -> PeerInfo {
        PeerInfo(peerId: p.publicKey.hexString, nodeId: p.nodeID.hex, userAgent: p.userAgent, connected: p.isConnected,
                 isRoot: p.isRoot, blockchainHeight: p.blockchainHeight, blockchainVersion: p.blockchainVersion,
                 features: p.features.rawValue, packetsIn: p.packetsIn, packetsOut: p.packetsOut,
                 connections: p.connections.map { c in
                     ConnectionInfo(remote: c.remote.description, local: networks[c.network].listen.description,
                                    status: c.status.rawValue, rttMilliseconds: c.rtt.map { $0 * 1000 },
                                    portInternal: c.portInternal, portExternal: c.portExternal)
                 })
    }
}
