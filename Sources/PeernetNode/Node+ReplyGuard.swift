import PeernetCrypto
import PeernetProtocol

extension Node {
    /// Sends the replies to a request. Replies up to `config.maxReplyBytesUnverified` go at
    /// once. Larger ones go only to an address the requester has proved it receives at (a
    /// round trip of ours came back from that IP); otherwise the address is pinged first, with
    /// a random sequence, and the replies follow the pong.
    ///
    /// Why: a request's source address is never verified (network.md §10 item 13). With
    /// any fresh key, a 2 KB Announcement naming 64 stored 64 KB values, or a 37-byte tree
    /// request, would aim megabytes at a forged source: a reflection attack. Found by the
    /// stateful fuzz targets' amplification bound.
    /// Whether `peer` proved it receives at `endpoint` (a round trip of ours came back from
    /// that IP on that network): large replies may go there.
    package func addressProven(_ peer: PublicKey, at endpoint: Endpoint, network: Int = 0) -> Bool {
        state.withLock { s in proven(peer, endpoint, network, in: s) }
    }

    func proven(_ peer: PublicKey, _ endpoint: Endpoint, _ network: Int, in s: borrowing NodeState) -> Bool {
        s.peers[peer]?.connections.contains { $0.matches(endpoint.ip, network: network) && $0.rtt != nil } ?? false
    }

    func sendReplies(_ replies: [Outgoing], to peer: PublicKey, via target: (Endpoint, Int)) {
        let bytes = replies.reduce(0) { $0 + $1.packet.payload.count }
        if bytes <= config.maxReplyBytesUnverified {
            for out in replies { send(out) }
            return
        }
        var effects = Effects()
        let verified: Bool = state.withLock { s in
            if proven(peer, target.0, target.1, in: s) { return true }
            let sequence = UInt32.random(in: 0...UInt32.max)
            let opened = s.sequences.open(peer: peer, sequence: sequence, now: monotonicNow(), timeout: config.timings.replyTimeout,
                                          purpose: .awaitingPong { [self] result in
                                              if case .success = result { for out in replies { send(out) } }
                                          })
            s.stats.repliesHeldForVerification += 1
            rejections.reject("large reply held until the requester's address answers a ping",
                              "\(bytes) bytes for \(peer.hexString.prefix(16))… at \(target.0)")
            if opened { effects.outgoing.append(Outgoing(receiver: peer, packet: Packet(command: .ping, sequence: sequence), targets: [target])) }
            return false
        }
        if verified { for out in replies { send(out) } } else { perform(effects) }
    }
}
