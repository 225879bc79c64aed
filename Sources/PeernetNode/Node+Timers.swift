import PeernetCrypto
import PeernetProtocol

extension Node {
    /// Housekeeping on every tick (§6.6): keep-alive pings, connection invalidation and
    /// removal, forgetting long-gone peers, reply timeouts, value expiry.
    func tick() {
        var effects = Effects()
        state.withLock { s in
            guard s.running else { return }
            let now = monotonicNow()
            let t = config.timings
            var forgotten: [PublicKey] = []
            for key in Array(s.peers.keys) {
                guard var peer = s.peers[key] else { continue }
                let wasConnected = peer.isConnected
                var remove: [Int] = []
                for i in peer.connections.indices {
                    var c = peer.connections[i]
                    let factor = c.status == .redundant ? t.redundantFactor : 1
                    switch c.status {
                    case .active, .redundant:
                        if now - c.lastPacketIn > t.invalidateAfter * factor {
                            c.status = .inactive
                            c.inactiveSince = now
                            if peer.preferred == i { peer.preferred = nil }
                        } else if let due = Self.keepAliveDue(peer: peer, connection: c, factor: factor, now: now, timings: t) {
                            c.lastPingOut = now
                            let seq = peer.nextSequence()
                            _ = s.sequences.open(peer: key, sequence: seq, now: now, timeout: t.replyTimeout, purpose: .none)
                            let packet = due == .refresh
                                ? Packet(command: .announcement, sequence: seq, payload: Announcement(header: header(in: s)).encode(sendUserAgent: false)[0])
                                : Packet(command: .ping, sequence: seq)
                            effects.outgoing.append(Outgoing(receiver: key, packet: packet, targets: [(c.remote, c.network)]))
                        }
                    case .inactive:
                        let inactiveCount = peer.connections.filter { $0.status == .inactive }.count
                        if now - c.inactiveSince > t.removeInactiveAfter && (peer.isConnected || inactiveCount > 2) {
                            remove.append(i)
                        } else if now - c.lastPingOut > t.pingInterval {
                            c.lastPingOut = now
                            let seq = peer.nextSequence()
                            _ = s.sequences.open(peer: key, sequence: seq, now: now, timeout: t.replyTimeout, purpose: .none)
                            effects.outgoing.append(Outgoing(receiver: key, packet: Packet(command: .ping, sequence: seq),
                                                             targets: [(c.remote, c.network)]))
                        }
                    }
                    peer.connections[i] = c
                }
                if !remove.isEmpty {
                    let preferredConnection = peer.preferred.map { peer.connections[$0].remote }
                    for i in remove.reversed() { peer.connections.remove(at: i) }
                    peer.preferred = preferredConnection.flatMap { r in peer.connections.firstIndex { $0.remote == r } }
                }
                if wasConnected && !peer.isConnected { effects.events.append(.peerDisconnected(key)) }
                // Unlike the reference, a peer that stays unreachable is eventually forgotten.
                if !peer.isConnected && now - peer.lastSeen > t.forgetPeerAfter {
                    forgotten.append(key)
                    continue
                }
                s.peers[key] = peer
            }
            for key in forgotten {
                let id = Hash256.nodeID(of: key)
                s.peers[key] = nil
                s.byNodeID[id] = nil
                s.routing.remove(id) { [peers = s.peers, byNodeID = s.byNodeID] candidate in
                    byNodeID[candidate].flatMap { peers[$0]?.isConnected } ?? false
                }
                effects.events.append(.peerRemoved(key))
            }
            for entry in s.sequences.sweep(now: now) { effects.callbacks.append(Self.fail(entry.purpose, .timeout)) }
            effects.callbacks += s.bidirectional.sweep(now: now)
            s.values.expire(now: now)
            s.recentReports = s.recentReports.filter { now - $0.value.time < 600 }
        }
        perform(effects)
    }

    enum KeepAlive { case ping, refresh }

    /// What the keep-alive timer sends on an up connection, if anything: a ping when nothing
    /// came in for a ping interval, an empty Announcement instead when the peer's blockchain
    /// height/version is due for a refresh. The refresh is due on the active connection even
    /// while packets flow (the peer's own pings keep `lastPacketIn` fresh, and a reference
    /// peer never announces its changes): a reference node's new file appeared after 60 s,
    /// and a deletion after 60 s, before this.
    static func keepAliveDue(peer: PeerState, connection c: ConnectionState, factor: Double, now: Double, timings t: NodeTimings) -> KeepAlive? {
        let every = peer.isOurKind == false ? t.foreignBlockchainRefresh : t.blockchainRefresh
        if c.status == .active && now - peer.lastBlockchainInfo > every && now - c.lastPingOut > min(every, t.pingInterval) { return .refresh }
        if now - c.lastPacketIn > t.pingInterval * factor && now - c.lastPingOut > t.pingInterval * factor { return .ping }
        return nil
    }
}
