import PeernetCrypto
import PeernetProtocol

extension Node {
    /// Root-peer bootstrap, LAN discovery, the Kademlia bootstrap, periodic bucket refresh and
    /// value republishing: each a task bounded by the node's life.
    func startBackgroundJobs() {
        let t = config.timings
        if !config.rootPeers.isEmpty {
            addTask { [self] in await bootstrapRootPeers() }
        }
        if config.localDiscovery {
            addTask { [self] in
                var next = 0.0
                while isRunning {
                    let now = monotonicNow()
                    if now >= next {
                        sendLocalDiscovery()
                        next = now + (peers().contains { $0.connected } ? t.discoverySlow : t.discoveryFast)
                    }
                    try? await Task.sleep(for: .seconds(t.tick))
                }
            }
        }
        addTask { [self] in
            // Kademlia bootstrap: once two nodes are known, look ourselves up (which introduces
            // us to our neighbourhood), then fill the sparse buckets once.
            while isRunning && routingTableSize < 2 { try? await Task.sleep(for: .seconds(t.tick)) }
            _ = await lookupNode(nodeID)
            try? await Task.sleep(for: .seconds(t.tick * 4))
            await refreshBuckets(target: 5)
            state.withLock { $0.kademliaBootstrapped = true }
            var lastSparse = monotonicNow(), lastFull = monotonicNow()
            while isRunning {
                try? await Task.sleep(for: .seconds(t.tick))
                let now = monotonicNow()
                if now - lastFull >= t.fullBucketRefresh {
                    lastFull = now
                    lastSparse = now
                    await refreshBuckets(target: 0)
                } else if now - lastSparse >= t.bucketRefresh {
                    lastSparse = now
                    await refreshBuckets(target: 5)
                }
            }
        }
        addTask { [self] in
            // Owners republish their values before others let them expire.
            while isRunning {
                try? await Task.sleep(for: .seconds(t.tick))
                let due: [(Hash256, Int)] = state.withLock { s in
                    s.values.dueForRepublish(now: monotonicNow(), interval: t.valueExpiry / 2).compactMap { h in
                        s.values.get(h).map { (h, $0.count) }
                    }
                }
                for (hash, size) in due where isRunning { _ = await announceValue(hash, size: size) }
            }
        }
    }

    /// §8.2: contact every root peer now, then every phase-1 interval (at most phase-1 count
    /// times), then every phase-2 interval, until all roots or at least two were reached.
    func bootstrapRootPeers() async {
        let t = config.timings
        func done() -> Bool {
            let reached = state.withLock { $0.rootsEverConnected.count }
            return reached >= min(2, config.rootPeers.count)
        }
        func contactMissing() {
            let reached = state.withLock { $0.rootsEverConnected }
            for root in config.rootPeers where !reached.contains(root.publicKey) {
                contact(root.publicKey, at: root.addresses)
            }
        }
        contactMissing()
        for (interval, count) in [t.bootstrapPhase1, t.bootstrapPhase2] {
            for _ in 0..<count {
                try? await Task.sleep(for: .seconds(interval))
                guard isRunning else { return }
                if done() { return }
                contactMissing()
            }
        }
    }

    /// A bootstrap FIND_SELF answer (§8.3): contact up to five new peers it lists, remembering
    /// who reported whom and which addresses were tried (so the spread stays bounded).
    func bootstrapResponse(_ r: Response, from origin: PublicKey, now: Double, in s: inout NodeState, effects: inout Effects) {
        guard !r.hashToPeers.isEmpty, r.hashToPeers.allSatisfy({ $0.hash == nodeID && !$0.closest.isEmpty }) else { return }
        for record in r.hashToPeers.flatMap(\.closest).prefix(5) {
            guard record.publicKey != key.publicKey, s.peers[record.publicKey]?.isConnected != true else { continue }
            let endpoints = contactEndpoints(record)
            guard !endpoints.isEmpty else { continue }
            var memory = s.recentReports[record.publicKey] ?? (now, [], [])
            guard memory.origins.insert(origin).inserted else { continue }
            let fresh = endpoints.filter { !memory.contacted.contains($0) }
            memory.contacted.formUnion(fresh)
            s.recentReports[record.publicKey] = memory
            if !fresh.isEmpty {
                queueBootstrapAnnouncement(to: record.publicKey, at: fresh, now: now, in: &s, effects: &effects)
            }
        }
    }

    /// LAN discovery (§6.9): a Local Discovery packet, encrypted to the well-known discovery key
    /// of each family, from each network's main socket to the broadcast address / multicast group.
    func sendLocalDiscovery() {
        let payload: [UInt8] = state.withLock { s in
            Announcement(header: header(in: s), findSelf: true).encode(sendUserAgent: true)[0]
        }
        let packet = Packet(command: .localDiscovery, sequence: 0, payload: payload)
        for net in networks {
            if net.listen.ip.isIPv4 {
                var targets = [Endpoint(ip: .v4(IPv4Address("255.255.255.255")!), port: config.discoveryPort)]
                if net.listen.ip.isLoopback { targets.append(Endpoint(ip: .v4(IPv4Address("127.255.255.255")!), port: config.discoveryPort)) }
                send(Outgoing(receiver: Self.discoveryKeyIPv4, packet: packet, targets: targets.map { ($0, net.index) }))
            } else {
                send(Outgoing(receiver: Self.discoveryKeyIPv6, packet: packet,
                              targets: [(Endpoint(ip: .v6(Self.discoveryGroupIPv6), port: config.discoveryPort), net.index)]))
            }
        }
    }
}
