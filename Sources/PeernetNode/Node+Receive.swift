import Foundation
import PeernetCrypto
import PeernetProtocol

/// A payload decoded outside the lock (decoding a Response parses public keys: expensive).
enum DecodedMessage {
    case announcement(Announcement)
    case response(Response)
    case ping, pong
    case discovery(Announcement)
    case traverse(Traverse)
    case chat(String)
    case transfer
    case invalid
    case other

    init(_ packet: Packet, discovery: Bool) {
        switch packet.command {
        case .announcement:
            self = (try? Announcement.decode(packet.payload)).map { discovery ? .discovery($0) : .announcement($0) } ?? .invalid
        case .localDiscovery:
            self = (try? Announcement.decode(packet.payload)).map(DecodedMessage.discovery) ?? .invalid
        case .response: self = (try? Response.decode(packet.payload)).map(DecodedMessage.response) ?? .invalid
        case .ping: self = .ping
        case .pong: self = .pong
        case .traverse: self = (try? Traverse.decode(packet.payload)).map(DecodedMessage.traverse) ?? .invalid
        case .chat: self = (try? ChatMessage.decode(packet.payload)).map(DecodedMessage.chat) ?? .invalid
        case .transfer, .getBlock: self = .transfer
        default: self = .other
        }
    }
}

extension Node {
    /// The receive pipeline for one datagram (network.md §6.1), on a decode worker.
    func handle(_ datagram: InboundDatagram) {
        let receiver: PublicKey
        if datagram.discovery {
            receiver = datagram.source.ip.isIPv4 ? Self.discoveryKeyIPv4 : Self.discoveryKeyIPv6
        } else {
            receiver = key.publicKey
        }
        let received: ReceivedPacket
        do {
            received = try PacketCodec.decode(datagram.bytes, receiver: receiver, rejectOwn: !datagram.discovery)
        } catch {
            state.withLock { $0.stats.invalidPackets += 1; $0.stats.datagramsIn += 1 }
            // Discovery sockets hear every node's multicast: undecodable there is normal.
            if !datagram.discovery {
                rejections.reject("undecodable packet", "\(datagram.bytes.count) bytes from \(datagram.source): \(error)")
            }
            return
        }
        guard received.sender != key.publicKey else {
            state.withLock { $0.stats.invalidPackets += 1; $0.stats.datagramsIn += 1 }
            return
        }
        // Local discovery arrives as command 4 on discovery sockets; anything else there is ignored.
        if datagram.discovery && received.packet.command != .localDiscovery { return }
        handleAuthenticated(received, source: datagram.source, network: datagram.network, discovery: datagram.discovery)
    }

    /// Everything after decryption and signature recovery: decode the payload, register the
    /// sender, dispatch to the handlers and perform what they asked for. The stateful fuzz
    /// targets (`peernet-fuzz`) enter here, since a fuzzer cannot forge signatures.
    package func handleAuthenticated(_ received: ReceivedPacket, source: Endpoint, network: Int, discovery: Bool = false) {
        let message = DecodedMessage(received.packet, discovery: discovery)
        var effects = Effects()
        state.withLock { s in
            guard s.running else { return }
            s.stats.datagramsIn += 1
            let now = monotonicNow()
            let connection = register(received.sender, from: source, network: network, now: now,
                                      in: &s, effects: &effects)
            dispatch(message, packet: received.packet, from: received.sender, connection: connection,
                     source: source, network: network, now: now, in: &s, effects: &effects)
        }
        if case .transfer = message { routeTransferMessage(received, source: source, network: network) }
        perform(effects)
    }

    /// Transfer (8) and Get Block (6) messages: a request-start goes to the transfer handler
    /// (it creates the sequence); any other control only on an open bidirectional sequence of
    /// that peer, which a "last" control closes (§5.3). Others are dropped.
    func routeTransferMessage(_ received: ReceivedPacket, source: Endpoint, network: Int) {
        let payload = received.packet.payload
        guard payload.count >= 34 else { return }
        let control = payload[0]
        let isTransfer = received.packet.command == .transfer
        if control == 0 {
            if let handler = transferHandler.withLock({ $0 }) { handler.call(received, source, network) }
            return
        }
        let last = isTransfer ? (control == 1 || control == 3) : (control == 1 || control == 3 || control == 4)
        let handler = state.withLock { s in
            s.bidirectional.deliver(peer: received.sender, sequence: received.packet.sequence, last: last, now: monotonicNow())
        }
        if let handler { handler(received, source) } else { state.withLock { $0.stats.repliesUnmatched += 1 } }
    }

    /// Adds or refreshes the sender (§6.1 step 5) and returns the index of its connection.
    func register(_ sender: PublicKey, from source: Endpoint, network: Int, now: Double,
                  in s: inout NodeState, effects: inout Effects) -> Int {
        var peer = s.peers[sender] ?? PeerState(publicKey: sender, now: now)
        let wasConnected = s.peers[sender]?.isConnected ?? false
        let index = peer.registerPacket(from: source, network: network, now: now)
        if config.rootPeers.contains(where: { $0.publicKey == sender }) {
            peer.isRoot = true
            s.rootsEverConnected.insert(sender)
        }
        s.peers[sender] = peer
        s.byNodeID[peer.nodeID] = sender
        if !wasConnected { effects.events.append(.peerConnected(sender)) }
        // Kademlia: every contact is "seen"; a full bucket keeps its oldest node unless that one
        // is down or slower than the newcomer.
        let newRTT = peer.rtt
        s.routing.seen(peer.nodeID) { [peers = s.peers, byNodeID = s.byNodeID] oldest in
            guard let key = byNodeID[oldest], let old = peers[key], old.isConnected, let oldRTT = old.rtt else { return true }
            if let newRTT { return newRTT < oldRTT }
            return false
        }
        return index
    }

    func dispatch(_ message: DecodedMessage, packet: Packet, from sender: PublicKey, connection: Int,
                  source: Endpoint, network: Int, now: Double, in s: inout NodeState, effects: inout Effects) {
        switch message {
        case .announcement(let a):
            updatePeer(sender, header: a.header, connection: connection, ports: true, now: now, in: &s, effects: &effects)
            answer(a, sequence: packet.sequence, from: sender, via: (source, network), now: now, in: &s, effects: &effects)
        case .response(let r):
            updatePeer(sender, header: r.header, connection: connection, ports: true, now: now, in: &s, effects: &effects)
            guard let (entry, complete, rtt) = s.sequences.matchResponse(
                peer: sender, sequence: packet.sequence, response: r, now: now, partTimeout: config.timings.replyPartTimeout) else {
                s.stats.repliesUnmatched += 1
                return
            }
            if let rtt { s.peers[sender]?.connections[connection].rtt = rtt }
            if complete { finish(entry, from: sender, now: now, in: &s, effects: &effects) }
        case .ping:
            if let peer = s.peers[sender], peer.connections[connection].portInternal != 0 {
                effects.outgoing.append(Outgoing(receiver: sender, packet: Packet(command: .pong, sequence: packet.sequence),
                                                 targets: [(source, network)]))
            } else {
                // Ports unknown on this connection: announce ourselves instead (§4.5).
                let seq = s.peers[sender]?.nextSequence() ?? UInt32.random(in: 0...UInt32.max)
                _ = s.sequences.open(peer: sender, sequence: seq, now: now, timeout: config.timings.replyTimeout, purpose: .none)
                let payload = Announcement(header: header(in: s)).encode(sendUserAgent: true)[0]
                effects.outgoing.append(Outgoing(receiver: sender, packet: Packet(command: .announcement, sequence: seq, payload: payload),
                                                 targets: [(source, network)]))
            }
        case .pong:
            if let (entry, rtt) = s.sequences.matchPong(peer: sender, sequence: packet.sequence, now: now) {
                s.peers[sender]?.connections[connection].rtt = rtt
                if case .awaitingPong(let h) = entry.purpose { effects.callbacks.append { h(.success(rtt)) } }
            } else {
                s.stats.repliesUnmatched += 1
            }
        case .discovery(let a):
            updatePeer(sender, header: a.header, connection: connection, ports: false, now: now, in: &s, effects: &effects)
            // Reply with a bootstrap Announcement to the sender's main socket (§6.9).
            guard var peer = s.peers[sender] else { return }
            let seq = peer.nextSequence()
            s.peers[sender] = peer
            _ = s.sequences.open(peer: sender, sequence: seq, now: now, timeout: config.timings.replyTimeout, purpose: .bootstrap)
            let payload = Announcement(header: header(in: s), findSelf: true).encode(sendUserAgent: true)[0]
            effects.outgoing.append(Outgoing(receiver: sender, packet: Packet(command: .announcement, sequence: seq, payload: payload),
                                             targets: [(source, network)]))
        case .traverse(let t):
            handleTraverse(t, from: sender, now: now, in: &s, effects: &effects)
        case .chat(let text):
            effects.events.append(.chat(sender, text))
        case .other:
            handleExtension(packet, from: sender, source: source, network: network, now: now, in: &s, effects: &effects)
        case .invalid:
            rejections.reject("malformed \(packet.command) message", "\(packet.payload.count) bytes from \(sender.hexString.prefix(16))… at \(source)")
        case .transfer:
            break
        }
    }

    /// Extension commands: payload byte 0 is a kind, odd for requests and even for replies.
    /// A reply is matched against our open sequence; a request goes to the registered handler,
    /// whose answer is sent back with the same sequence and command.
    func handleExtension(_ packet: Packet, from sender: PublicKey, source: Endpoint, network: Int, now: Double,
                         in s: inout NodeState, effects: inout Effects) {
        guard let kind = packet.payload.first, let handler = extensions.withLock({ $0[packet.command.rawValue] }) else { return }
        if kind % 2 == 0 {
            if let entry = s.sequences.matchExtension(peer: sender, sequence: packet.sequence, now: now),
               case .awaitingExtension(let h) = entry.purpose {
                let payload = packet.payload
                effects.callbacks.append { h(.success(payload)) }
            } else {
                s.stats.repliesUnmatched += 1
            }
            return
        }
        let received = ReceivedPacket(packet: packet, sender: sender)
        effects.callbacks.append { [self] in
            if let reply = handler(received) {
                sendReplies([Outgoing(receiver: sender, packet: Packet(command: packet.command, sequence: packet.sequence, payload: reply),
                                      targets: [(source, network)])], to: sender, via: (source, network))
            }
        }
    }

    /// Takes ports, features, user agent and blockchain info from a message header.
    func updatePeer(_ sender: PublicKey, header: MessageHeader, connection: Int, ports: Bool, now: Double,
                    in s: inout NodeState, effects: inout Effects) {
        guard var peer = s.peers[sender] else { return }
        if ports {
            peer.connections[connection].portInternal = header.portInternal
            peer.connections[connection].portExternal = header.portExternal
            peer.connections[connection].firewall = header.features.contains(.firewall)
        }
        if !header.userAgent.isEmpty { peer.userAgent = header.userAgent }
        peer.features = header.features
        let changed = peer.lastBlockchainInfo > 0
            && (peer.blockchainHeight != header.blockchainHeight || peer.blockchainVersion != header.blockchainVersion)
        let first = peer.lastBlockchainInfo == 0
        peer.blockchainHeight = header.blockchainHeight
        peer.blockchainVersion = header.blockchainVersion
        peer.lastBlockchainInfo = now
        s.peers[sender] = peer
        if changed || (first && header.blockchainHeight > 0) {
            effects.events.append(.blockchainChanged(sender, height: header.blockchainHeight, version: header.blockchainVersion))
        }
    }

    /// A reply sequence is complete: hand it to its purpose.
    func finish(_ entry: SequenceTable.Entry, from sender: PublicKey, now: Double, in s: inout NodeState, effects: inout Effects) {
        switch entry.purpose {
        case .awaiting(let h):
            let parts = entry.parts
            effects.callbacks.append { h(.success(parts)) }
        case .bootstrap:
            for part in entry.parts { bootstrapResponse(part, from: sender, now: now, in: &s, effects: &effects) }
        case .none, .awaitingPong, .awaitingExtension:
            break
        }
    }

    // MARK: Answering Announcements

    /// Builds and queues the Response to an Announcement (§4.3): FIND_SELF, FIND_PEER,
    /// FIND_VALUE, then INFO_STORE (which makes us fetch the value from its announcer).
    func answer(_ a: Announcement, sequence: UInt32, from requester: PublicKey, via target: (Endpoint, Int), now: Double,
                in s: inout NodeState, effects: inout Effects) {
        let requesterID = Hash256.nodeID(of: requester)
        let requesterLocal = target.0.ip.isLANLocal
        let ownKind = s.peers[requester]?.isOurKind == true
        let count = ownKind ? config.responseClosestCountOwnKind : config.responseClosestCount
        var budget = config.maxKeysPerAnnouncement
        var response = Response(header: header(in: s))
        func closestEntry(_ key: Hash256) -> HashToPeers? {
            let records = shareableClosest(to: key, count: count, excluding: requester,
                                           requesterFeatures: a.header.features, requesterIsLocal: requesterLocal, in: s)
            return records.isEmpty ? nil : HashToPeers(hash: key, closest: records)
        }
        if a.findSelf {
            if let e = closestEntry(requesterID) { response.hashToPeers.append(e) } else { response.hashesNotFound.append(requesterID) }
        }
        for key in a.findPeer {
            budget -= 1
            guard budget >= 0 else { break }
            if let e = closestEntry(key) { response.hashToPeers.append(e) } else { response.hashesNotFound.append(key) }
        }
        for key in a.findValue {
            budget -= 1
            guard budget >= 0 else { break }
            if let data = s.values.get(key) {
                response.embeddedFiles.append(EmbeddedFile(hash: key, data: data))
            } else if let e = closestEntry(key) {
                // Unlike the reference, point the requester closer to the value.
                response.hashToPeers.append(e)
            } else {
                response.hashesNotFound.append(key)
            }
        }
        for record in a.infoStore.prefix(config.maxKeysPerAnnouncement) where record.type == 0 && record.size <= UInt64(config.maxValueSize) && !s.values.has(record.hash) {
            fetchAnnouncedValue(record.hash, from: requester, now: now, in: &s, effects: &effects)
        }
        guard let parts = try? response.encode(sendUserAgent: !a.header.userAgent.isEmpty) else { return }
        let replies = parts.map { Outgoing(receiver: requester, packet: Packet(command: .response, sequence: sequence, payload: $0),
                                           targets: [target]) }
        effects.callbacks.append { [self] in sendReplies(replies, to: requester, via: target) }
    }

    /// Peer records for the nodes closest to `key` that may be shared with this requester
    /// (§7.5): an up connection whose internal port is known, of a family the requester
    /// listens on, LAN-local only to LAN-local requesters; never the requester itself.
    func shareableClosest(to key: Hash256, count: Int, excluding requester: PublicKey, requesterFeatures: Features,
                          requesterIsLocal: Bool, in s: borrowing NodeState) -> [PeerRecord] {
        var records: [PeerRecord] = []
        let candidates = s.routing.closest(to: key, count: count * 4 + 8) { id in s.byNodeID[id] != requester }
        for id in candidates {
            guard records.count < count, let pk = s.byNodeID[id], let peer = s.peers[pk] else { continue }
            if let record = peerRecord(peer, requesterFeatures: requesterFeatures, requesterIsLocal: requesterIsLocal) {
                records.append(record)
            }
        }
        return records
    }

    func peerRecord(_ peer: PeerState, requesterFeatures: Features, requesterIsLocal: Bool) -> PeerRecord? {
        var record = PeerRecord(publicKey: peer.publicKey)
        record.features = peer.features
        var order = Array(peer.connections.indices)
        if let p = peer.preferred { order.removeAll { $0 == p }; order.insert(p, at: 0) }
        var haveV4 = false, haveV6 = false
        for i in order {
            let c = peer.connections[i]
            guard c.isUp, c.portInternal != 0 else { continue }
            if c.remote.ip.isLANLocal && !requesterIsLocal { continue }
            switch c.remote.ip {
            case .v4(let ip) where !haveV4 && requesterFeatures.contains(.ipv4Listen):
                haveV4 = true
                record.ipv4 = ip
                record.ipv4Port = c.remote.port
                record.ipv4PortReportedInternal = c.portInternal
                record.ipv4PortReportedExternal = c.portExternal
            case .v6(let ip) where !haveV6 && requesterFeatures.contains(.ipv6Listen):
                haveV6 = true
                record.ipv6 = ip
                record.ipv6Port = c.remote.port
                record.ipv6PortReportedInternal = c.portInternal
                record.ipv6PortReportedExternal = c.portExternal
            default: continue
            }
        }
        return haveV4 || haveV6 ? record : nil
    }

    /// Addresses to contact a peer record at (external port if reported, else the observed
    /// one), after the reference's quality check (§4.4). Empty if the record is unusable.
    func contactEndpoints(_ r: PeerRecord) -> [Endpoint] {
        var out: [Endpoint] = []
        if !r.ipv4.isUnspecified && r.ipv4PortReportedInternal != 0 {
            out.append(Endpoint(ip: .v4(r.ipv4), port: r.ipv4PortReportedExternal != 0 ? r.ipv4PortReportedExternal : r.ipv4Port))
        }
        if !r.ipv6.isUnspecified && r.ipv6PortReportedInternal != 0 {
            out.append(Endpoint(ip: .v6(r.ipv6), port: r.ipv6PortReportedExternal != 0 ? r.ipv6PortReportedExternal : r.ipv6Port))
        }
        return out.filter { $0.port != 0 }
    }

    // MARK: Traverse (§6.8)

    func handleTraverse(_ t: Traverse, from sender: PublicKey, now: Double, in s: inout NodeState, effects: inout Effects) {
        guard let signer = t.signer, t.expires >= UInt64(Date.unixNow) else {
            rejections.reject("traverse with a bad signature or expired", "from \(sender.hexString.prefix(16))…")
            return
        }
        if t.authorizedRelay == key.publicKey {
            // Relay: the signer must be the sender, and we must know the target.
            guard signer == sender, t.targetPeer != key.publicKey, let target = s.peers[t.targetPeer], target.isConnected,
                  let origin = s.peers[sender] else { return }
            var forward = t
            var filled = false
            for c in origin.sendConnections + origin.connections where c.isUp && c.portInternal != 0 && !c.remote.ip.isLANLocal {
                switch c.remote.ip {
                case .v4(let ip) where forward.ipv4.isUnspecified && target.features.contains(.ipv4Listen):
                    forward.ipv4 = ip
                    forward.portIPv4 = c.remote.port
                    forward.portIPv4ReportedExternal = c.portExternal
                    filled = true
                case .v6(let ip) where forward.ipv6.isUnspecified && target.features.contains(.ipv6Listen):
                    forward.ipv6 = ip
                    forward.portIPv6 = c.remote.port
                    forward.portIPv6ReportedExternal = c.portExternal
                    filled = true
                default: continue
                }
            }
            guard filled else { return }
            s.stats.traversesRelayed += 1
            effects.outgoing.append(Outgoing(receiver: t.targetPeer, packet: Packet(command: .traverse, sequence: 0, payload: forward.encode()),
                                             targets: targets(for: t.targetPeer, fallback: [], in: s)))
        } else if t.targetPeer == key.publicKey && t.authorizedRelay == sender {
            // Target: answer the embedded Announcement directly to the originator's addresses.
            guard s.peers[signer]?.isConnected != true else { return }
            var endpoints: [Endpoint] = []
            if !t.ipv4.isUnspecified {
                endpoints.append(Endpoint(ip: .v4(t.ipv4), port: t.portIPv4ReportedExternal != 0 ? t.portIPv4ReportedExternal : t.portIPv4))
            }
            if !t.ipv6.isUnspecified {
                endpoints.append(Endpoint(ip: .v6(t.ipv6), port: t.portIPv6ReportedExternal != 0 ? t.portIPv6ReportedExternal : t.portIPv6))
            }
            guard let inner = try? PacketCodec.decode(t.embeddedPacket, receiver: key.publicKey), inner.sender == signer,
                  inner.packet.command == .announcement, let a = try? Announcement.decode(inner.packet.payload) else { return }
            let targets = firstContactTargets(endpoints)
            guard !targets.isEmpty else { return }
            var response = Response(header: header(in: s))
            if a.findSelf {
                let id = Hash256.nodeID(of: signer)
                let records = shareableClosest(to: id, count: config.responseClosestCount, excluding: signer,
                                               requesterFeatures: a.header.features, requesterIsLocal: false, in: s)
                if records.isEmpty { response.hashesNotFound.append(id) } else { response.hashToPeers.append(HashToPeers(hash: id, closest: records)) }
            }
            guard let parts = try? response.encode(sendUserAgent: !a.header.userAgent.isEmpty) else { return }
            for part in parts {
                effects.outgoing.append(Outgoing(receiver: signer, packet: Packet(command: .response, sequence: inner.packet.sequence, payload: part),
                                                 targets: targets))
            }
        }
    }
}

extension Date {
    static var unixNow: Int { Int(Date().timeIntervalSince1970) }
}
