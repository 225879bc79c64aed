import PeernetCrypto
import PeernetProtocol

/// How the node reaches a lookup contact: its key, and addresses for a first contact.
public struct PeerAddress: Sendable {
    public let publicKey: PublicKey
    public let endpoints: [Endpoint]
    /// The peer that reported this one; it can relay a Traverse (§6.8).
    public var relay: PublicKey? = nil
    /// The record looked NATed or firewalled: first contact also goes through `relay`.
    public var traverse = false
}

extension Node {
    /// Seeds for a lookup: the k closest connected nodes of the routing table.
    func lookupSeeds(_ target: Hash256) -> [LookupContact<PeerAddress>] {
        state.withLock { s in
            s.routing.closest(to: target, count: config.bucketSize) { id in
                s.byNodeID[id].flatMap { s.peers[$0]?.isConnected } ?? false
            }.compactMap { id in
                s.byNodeID[id].map { LookupContact(id: id, address: PeerAddress(publicKey: $0, endpoints: [])) }
            }
        }
    }

    /// Converts a Response into lookup contacts for `target` (records of entries for the
    /// target, usable addresses only, never ourselves) and a value if one was embedded.
    func lookupReply(_ parts: [Response], target: Hash256, from responder: PublicKey) -> LookupReply<PeerAddress> {
        var contacts: [LookupContact<PeerAddress>] = []
        var value: [UInt8]? = nil
        for r in parts {
            for entry in r.hashToPeers where entry.hash == target {
                for record in entry.storing + entry.closest where record.publicKey != key.publicKey {
                    let endpoints = contactEndpoints(record)
                    if endpoints.isEmpty && !isConnected(record.publicKey) { continue }
                    let natted = (record.ipv4PortReportedInternal != 0 && record.ipv4PortReportedInternal != record.ipv4Port)
                        || (record.ipv6PortReportedInternal != 0 && record.ipv6PortReportedInternal != record.ipv6Port)
                    contacts.append(LookupContact(id: record.nodeID, address: PeerAddress(
                        publicKey: record.publicKey, endpoints: endpoints, relay: responder,
                        traverse: natted || record.features.contains(.firewall))))
                }
            }
            // Unlike the reference, a value counts only if it is the one asked for.
            for file in r.embeddedFiles where file.hash == target && Hash256.blake3(file.data) == target { value = file.data }
        }
        return .contacts(contacts, value: value)
    }

    func runLookup(_ target: Hash256, findValue: Bool) async -> LookupOutcome<PeerAddress> {
        let ownID = nodeID
        let seeds = lookupSeeds(target)
        let emptyHeader = state.withLock { s in header(in: s) }
        return await KademliaLookup.run(
            target: target, seeds: seeds, k: config.bucketSize, alpha: config.alpha, timeout: config.timings.lookupTimeout,
            acceptValue: { Hash256.blake3($0) == target }
        ) { [self] contact in
            let announcement = findValue
                ? Announcement(header: emptyHeader, findValue: [target])
                : (target == ownID ? Announcement(header: emptyHeader, findSelf: true) : Announcement(header: emptyHeader, findPeer: [target]))
            do {
                // The user agent lets nodes of our kind answer with a full k records.
                let parts = try await request(announcement, to: contact.address.publicKey, at: contact.address.endpoints,
                                              sendUserAgent: true, timeout: config.timings.lookupRoundTimeout,
                                              traverseVia: contact.address.traverse ? contact.address.relay : nil)
                return lookupReply(parts, target: target, from: contact.address.publicKey)
            } catch {
                return .failed
            }
        }
    }

    /// The k nodes closest to `target` that answered, closest first (Kademlia FIND_NODE).
    public func lookupNode(_ target: Hash256) async -> [PublicKey] {
        await runLookup(target, findValue: false).closest.map(\.address.publicKey)
    }

    /// The `count` connected peers of the routing table closest to `target`, closest first:
    /// no network traffic (a search asks them at once, while the lookup runs).
    public func closestConnected(to target: Hash256, count: Int) -> [PublicKey] {
        lookupSeeds(target).prefix(count).map(\.address.publicKey)
    }

    /// Finds a peer by node ID: from the peer list, else through the DHT.
    public func findPeer(_ id: Hash256) async -> PublicKey? {
        if let known = state.withLock({ s in s.byNodeID[id] }) { return known }
        return await runLookup(id, findValue: false).closest.first { $0.id == id }?.address.publicKey
    }

    /// Finds a value by its hash: locally, else through the DHT (verified against the hash).
    public func findValue(_ hash: Hash256) async -> [UInt8]? {
        if let local = state.withLock({ $0.values.get(hash) }) { return local }
        return await runLookup(hash, findValue: true).value
    }

    /// Stores a value locally as its owner and announces it (INFO_STORE) to the k nodes
    /// closest to its hash, which fetch it from us. Returns the hash and how many nodes were told.
    @discardableResult
    public func storeValue(_ data: [UInt8]) async -> (hash: Hash256, informed: Int)? {
        guard let hash = state.withLock({ $0.values.put(data, now: monotonicNow(), expiry: config.timings.valueExpiry, owned: true) }) else {
            return nil
        }
        let informed = await announceValue(hash, size: data.count)
        return (hash, informed)
    }

    /// Stops serving and republishing a value we own.
    public func removeValue(_ hash: Hash256) {
        state.withLock { $0.values.remove(hash) }
    }

    func announceValue(_ hash: Hash256, size: Int) async -> Int {
        let closest = await lookupNode(hash)
        let header = state.withLock { s in self.header(in: s) }
        let announcement = Announcement(header: header, infoStore: [InfoStoreRecord(hash: hash, size: UInt64(size))])
        var informed = 0
        await withTaskGroup(of: Bool.self) { group in
            for peer in closest {
                group.addTask { [self] in (try? await request(announcement, to: peer, timeout: config.timings.lookupRoundTimeout)) != nil }
            }
            for await ok in group where ok { informed += 1 }
        }
        return informed
    }

    /// INFO_STORE received: fetch the announced value from its announcer with FIND_VALUE and
    /// keep it if it is what was announced (the reference ignores INFO_STORE).
    func fetchAnnouncedValue(_ hash: Hash256, from announcer: PublicKey, now: Double, in s: inout NodeState, effects: inout Effects) {
        let headerNow = header(in: s)
        effects.tasks.append { [self] in
            let ask = Announcement(header: headerNow, findValue: [hash])
            guard let parts = try? await request(ask, to: announcer, timeout: config.timings.lookupRoundTimeout) else { return }
            for file in parts.flatMap(\.embeddedFiles) where file.hash == hash && Hash256.blake3(file.data) == hash {
                state.withLock { _ = $0.values.put(file.data, now: monotonicNow(), expiry: config.timings.valueExpiry, owned: false) }
            }
        }
    }

    /// Whether this node holds a value (ours or stored for others).
    public func hasValue(_ hash: Hash256) -> Bool { state.withLock { $0.values.has(hash) } }

    /// Refreshes sparse buckets (§7.8, done right): a lookup of our own ID, then one lookup of a
    /// random ID in each bucket below `target` nodes, from the farthest bucket down to the
    /// nearest non-empty one (closer buckets are empty in any network of realistic size).
    func refreshBuckets(target: Int, maxLookups: Int = 16) async {
        _ = await lookupNode(nodeID)
        let ids: [Hash256] = state.withLock { s in
            let nonEmpty = (0..<256).filter { !s.routing.buckets[$0].isEmpty }
            guard let nearest = nonEmpty.min() else { return [] }
            return s.routing.sparseBuckets(below: target).filter { $0 >= nearest && $0 != 0 }
                .reversed().prefix(maxLookups).map { s.routing.randomID(inBucket: $0) }
        }
        for id in ids {
            guard isRunning else { return }
            _ = await lookupNode(id)
        }
    }
}
