import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetNode
import PeernetProtocol
import PeernetStore
import Synchronization

/// Search that reaches the whole network (an extension; reference nodes ignore it, see
/// docs/search-extension.md). Publishing a file stores signed keyword records (word key ->
/// owner, file) at the DHT nodes closest to each word's key, republished before they expire
/// and withdrawn when the file is unshared. A query looks each word up in the DHT, verifies the
/// records, fetches the owners' chains it lacks (validated block by block) and answers from
/// the local catalog, which by then holds the owners' files: so exact mode, OR semantics,
/// filters and sorts are those of the local search.
public final class NetworkSearch: Sendable {
    public let exchange: BlockExchange
    var node: Node { exchange.node }
    var store: LocalStore { exchange.store }
    let keywords = Mutex(KeywordStore())
    /// Whether the network was asked for our chain's marker yet: until then we publish none,
    /// or a restored (older) chain would overwrite the marker that tells us about the newer.
    let chainMarkerChecked = Mutex(false)
    let providers = Mutex(ProviderStore())
    /// How long records live; owners republish at half of it.
    public let recordLifetime: Double
    /// Nodes each record is stored at (the closest ones to the word's key).
    public let replication: Int
    /// The search of before streaming (look up, then ask the closest nodes and wait for all
    /// of them before fetching any chain): only for the benchmark's same-run comparison.
    public let waitsForAllReplies = Atomic<Bool>(false)
    private let tasks = Mutex<[Task<Void, Never>]>([])

    public init(exchange: BlockExchange, recordLifetime: Double = 12 * 3600, replication: Int = 8) {
        self.exchange = exchange
        self.recordLifetime = recordLifetime
        self.replication = replication
        exchange.node.registerExtension(SearchMessage.command) { [weak self] received in
            self?.handle(received)
        }
        let republisher = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(max(1, recordLifetime / 2)))
                guard let self, !Task.isCancelled else { return }
                self.keywords.withLock { $0.expire(now: Self.unixNow) }
                self.providers.withLock { $0.expire(now: Self.unixNow) }
                await self.publishAll()
            }
        }
        tasks.withLock { $0.append(republisher) }
    }

    public func stop() { for t in tasks.withLock({ t in defer { t = [] }; return t }) { t.cancel() } }

    static var unixNow: UInt64 { UInt64(Date().timeIntervalSince1970) }

    /// Records stored here for others (tests, status).
    public var storedRecordCount: Int { keywords.withLock { $0.total } }

    // MARK: Serving

    func handle(_ received: ReceivedPacket) -> [UInt8]? {
        let payload = received.packet.payload
        switch payload.first {
        case 1:
            guard let records = SearchMessage.records(payload) else { return nil }
            // Only the owner may store or withdraw its own records.
            let own = records.filter { $0.owner == received.sender }
            let stored = keywords.withLock { $0.store(own, now: Self.unixNow) }
            return [2, UInt8(stored & 0xff), UInt8(stored >> 8)]
        case 3:
            guard let keys = SearchMessage.keys(payload) else { return nil }
            let now = Self.unixNow
            var found: [KeywordRecord] = []
            keywords.withLock { k in
                for key in keys { found += k.find(key, now: now, limit: SearchMessage.maxRecordsPerReply - found.count) }
            }
            return SearchMessage.found(found)
        case 5:
            guard let records = SearchMessage.providers(payload) else { return nil }
            let own = records.filter { $0.owner == received.sender }
            let stored = providers.withLock { $0.store(own, now: Self.unixNow) }
            return [6, UInt8(stored & 0xff), UInt8(stored >> 8)]
        case 7:
            guard let keys = SearchMessage.keys(payload) else { return nil }
            let now = Self.unixNow
            var found: [ProviderRecord] = []
            providers.withLock { p in
                for key in keys { found += p.find(key, now: now, limit: SearchMessage.maxRecordsPerReply - found.count) }
            }
            return SearchMessage.foundProviders(found)
        default:
            return nil
        }
    }

    // MARK: Provider records

    /// Announces that this node holds the complete content of these hashes (size each).
    @discardableResult
    public func announceProviders(_ items: [(hash: Hash256, size: UInt64)], withdraw: Bool = false) async -> Int {
        let expires = withdraw ? 0 : Self.unixNow + UInt64(recordLifetime)
        var accepted = 0
        for item in items {
            guard let record = try? ProviderRecord.signed(by: node.key, hash: item.hash, fileSize: item.size, expires: expires) else { continue }
            let closest = await node.lookupNode(item.hash).prefix(replication)
            await withTaskGroup(of: Bool.self) { group in
                for peer in closest {
                    group.addTask { [node] in
                        (try? await node.requestExtension(SearchMessage.command, payload: SearchMessage.storeProviders([record]), to: peer,
                                                          timeout: node.config.timings.lookupRoundTimeout)) != nil
                    }
                }
                for await ok in group where ok { accepted += 1 }
            }
        }
        return accepted
    }

    /// Peers that announced holding the content `hash` (verified records, not expired).
    public func findProviders(_ hash: Hash256) async -> [ProviderRecord] {
        var found = Set(providers.withLock { $0.find(hash, now: Self.unixNow, limit: SearchMessage.maxRecordsPerReply) })
        let closest = await node.lookupNode(hash).prefix(replication)
        await withTaskGroup(of: [ProviderRecord].self) { group in
            for peer in closest {
                group.addTask { [node] in
                    guard let reply = try? await node.requestExtension(SearchMessage.command, payload: SearchMessage.findProviders([hash]),
                                                                       to: peer, timeout: node.config.timings.lookupRoundTimeout),
                          reply.first == 8 else { return [] }
                    return SearchMessage.providers(reply) ?? []
                }
            }
            for await records in group { found.formUnion(records) }
        }
        let now = Self.unixNow
        return found.filter { $0.hash == hash && !$0.isWithdrawal && $0.expires > now && $0.isAuthentic }
    }

    // MARK: Publishing

    /// Keyword records for our files, grouped by word key.
    func records(for files: [FileRecord], expires: UInt64) -> [Hash256: [KeywordRecord]] {
        let chain = store.chain
        var byWord: [Hash256: [KeywordRecord]] = [:]
        for f in files {
            guard let entry = try? store.catalog.file(owner: chain.owner, id: f.id) else { continue }
            func text(_ t: UInt16) -> String { SearchText.sanitize(f.tag(t)?.data ?? []) }
            for w in SearchText.indexWordsWithExtension(name: text(FileTag.name), folder: text(FileTag.folder), description: text(FileTag.description)) {
                guard let r = try? KeywordRecord.signed(by: node.key, word: w.hash, fileID: f.id, fileHash: f.hash, fileSize: f.size,
                                                        chainVersion: entry.version, block: entry.block, expires: expires) else { continue }
                byWord[w.hash, default: []].append(r)
            }
        }
        return byWord
    }

    /// Stores records at the closest nodes of each key; returns how many nodes accepted some.
    @discardableResult
    func distribute(_ byWord: [Hash256: [KeywordRecord]]) async -> Int {
        var accepted = 0
        for (word, records) in byWord {
            let closest = await node.lookupNode(word).prefix(replication)
            await withTaskGroup(of: Bool.self) { group in
                for peer in closest {
                    group.addTask { [node] in
                        for batch in stride(from: 0, to: records.count, by: SearchMessage.maxRecordsPerReply) {
                            let part = Array(records[batch..<min(records.count, batch + SearchMessage.maxRecordsPerReply)])
                            guard (try? await node.requestExtension(SearchMessage.command, payload: SearchMessage.store(part), to: peer,
                                                                    timeout: node.config.timings.lookupRoundTimeout)) != nil else { return false }
                        }
                        return true
                    }
                }
                for await ok in group where ok { accepted += 1 }
            }
        }
        return accepted
    }

    /// Publishes keyword records for files (call after sharing).
    @discardableResult
    public func publish(_ files: [FileRecord]) async -> Int {
        let expires = Self.unixNow + UInt64(recordLifetime)
        var byWord = records(for: files, expires: expires)
        if let (key, marker) = chainMarker(expires: expires) { byWord[key] = [marker] }
        let informed = await distribute(byWord)
        var seen = Set<Hash256>()
        let contents = files.filter { !$0.isVirtualFolder && seen.insert($0.hash).inserted }.map { (hash: $0.hash, size: $0.size) }
        await announceProviders(contents)
        return informed
    }

    /// Republishes all own files (records expire otherwise).
    public func publishAll() async {
        guard let files = try? store.chain.files(), !files.isEmpty else { return }
        await publish(files)
    }

    /// Withdraws the records of files that were unshared.
    @discardableResult
    public func withdraw(_ files: [FileRecord]) async -> Int {
        // A withdrawal does not need the catalog entry (the file is gone): sign with version 0.
        var byWord: [Hash256: [KeywordRecord]] = [:]
        for f in files {
            func text(_ t: UInt16) -> String { SearchText.sanitize(f.tag(t)?.data ?? []) }
            for w in SearchText.indexWordsWithExtension(name: text(FileTag.name), folder: text(FileTag.folder), description: text(FileTag.description)) {
                if let r = try? KeywordRecord.signed(by: node.key, word: w.hash, fileID: f.id, fileHash: f.hash, fileSize: f.size,
                                                     chainVersion: 0, block: 0, expires: 0) {
                    byWord[w.hash, default: []].append(r)
                }
            }
        }
        if let (key, marker) = chainMarker(expires: Self.unixNow + UInt64(recordLifetime)) { byWord[key] = [marker] }
        let informed = await distribute(byWord)
        // Withdraw as provider only for content no remaining record needs.
        let still = (try? store.catalog.hashes(owner: store.chain.owner)) ?? []
        var seen = Set<Hash256>()
        let gone = files.filter { !still.contains($0.hash) && seen.insert($0.hash).inserted }.map { (hash: $0.hash, size: $0.size) }
        await announceProviders(gone, withdraw: true)
        return informed
    }

    // MARK: Searching

    /// Finds keyword records for a key at the nodes closest to it.
    func findRecords(_ key: Hash256) async -> [KeywordRecord] {
        let found = Mutex(Set<KeywordRecord>())
        await findRecords(key) { records in found.withLock { $0.formUnion(records) } }
        return Array(found.withLock { $0 })
    }

    /// Finds keyword records for a key, handing each reply's usable records to `onRecords` as
    /// it arrives (one slow or silent node delays nothing else). The closest nodes already
    /// connected are asked at once, while the lookup runs: records live on the `replication`
    /// nodes closest to the key, and a node that has met many peers often knows several of
    /// them. Then the closest nodes the lookup found, those not asked yet.
    /// `askKnownFirst` false: only the nodes the lookup found (the search as before streaming,
    /// kept for the benchmark's comparison).
    func findRecords(_ key: Hash256, askKnownFirst: Bool = true, onRecords: @escaping @Sendable ([KeywordRecord]) async -> Void) async {
        @Sendable func usable(_ records: [KeywordRecord]) -> [KeywordRecord] {
            let now = Self.unixNow
            return records.filter { $0.word == key && !$0.isWithdrawal && $0.expires > now && $0.isAuthentic }
        }
        let local = keywords.withLock { $0.find(key, now: Self.unixNow, limit: SearchMessage.maxRecordsPerReply) }
        if !local.isEmpty { await onRecords(usable(local)) }
        let asked = Shared(Set<PublicKey>())
        let node = self.node
        @Sendable func query(_ peer: PublicKey) async {
            guard let reply = try? await node.requestExtension(SearchMessage.command, payload: SearchMessage.find([key]), to: peer,
                                                               timeout: node.config.timings.lookupRoundTimeout),
                  reply.first == 4 else { return }
            let records = usable(SearchMessage.records(reply) ?? [])
            if !records.isEmpty { await onRecords(records) }
        }
        let replication = self.replication
        await withTaskGroup(of: Void.self) { group in
            for peer in askKnownFirst ? node.closestConnected(to: key, count: replication) : []
            where asked.value.withLock({ $0.insert(peer).inserted }) {
                group.addTask { await query(peer) }
            }
            group.addTask {
                let closest = await node.lookupNode(key).prefix(replication)
                await withTaskGroup(of: Void.self) { inner in
                    for peer in closest where asked.value.withLock({ $0.insert(peer).inserted }) {
                        inner.addTask { await query(peer) }
                    }
                }
            }
        }
    }

    /// Makes sure the cache holds `owner`'s chain at `version` or newer: finds the owner
    /// through the DHT if needed, connects, and syncs (every block validated).
    func ensureChain(of owner: PublicKey, version: UInt64) async {
        if let h = try? store.cache.header(owner), h.version >= version, h.blocks > 0 { return }
        if !node.isConnected(owner) {
            _ = await node.findPeer(Hash256.nodeID(of: owner))
        }
        guard let info = node.peer(owner), info.connected else { return }
        await exchange.sync(peer: owner, height: info.blockchainHeight, version: info.blockchainVersion)
    }

    /// Searches the network: results arrive through `onResults` as they are found (local ones
    /// first), and the final list is returned. Bounded by `timeout` seconds.
    @discardableResult
    public func search(_ text: String, filter: SearchFilter = SearchFilter(), sort: SearchSort = .none, limit: Int = 200,
                       timeout: Double = 10, onResults: (@Sendable ([SearchResult]) -> Void)? = nil) async -> [SearchResult] {
        let session = SearchSession(term: SearchText.parseTerm(text), filter: filter, sort: sort, limit: limit,
                                    catalog: store.catalog, onResults: onResults)
        // Owners of local hits that advertise a newer chain than cached: refresh them first,
        // so renamed or deleted files are not reported from a stale cache.
        let local = (try? store.catalog.search(session.term, filter: filter, sort: sort, limit: limit)) ?? []
        for owner in Set(local.map(\.entry.owner)) where owner != node.publicKey {
            if let info = node.peer(owner), info.connected, let cached = try? store.cache.header(owner),
               cached.version != info.blockchainVersion || cached.height != info.blockchainHeight {
                await exchange.sync(peer: owner, height: info.blockchainHeight, version: info.blockchainVersion)
            }
        }
        session.emitNew()
        let keys = session.term.allKeys.map(\.hash)
        let me = node.publicKey
        // Owners whose chains are being fetched, with the version asked for: each reply's new
        // owners are fetched at once, not after every node has answered.
        let started = Shared<[PublicKey: UInt64]>([:])
        @Sendable func fetchChains(of records: [KeywordRecord]) async {
            var owners: [PublicKey: UInt64] = [:]
            for r in records where r.owner != me { owners[r.owner] = max(owners[r.owner] ?? 0, r.chainVersion) }
            let fresh = started.value.withLock { s in
                owners.filter { owner, version in
                    guard (s[owner].map { version > $0 } ?? true) else { return false }
                    s[owner] = version
                    return true
                }
            }
            await withTaskGroup(of: Void.self) { inner in
                for (owner, version) in fresh {
                    inner.addTask { [self] in
                        await ensureChain(of: owner, version: version)
                        session.emitNew()
                    }
                }
            }
        }
        let work = Task { [self] in
            await withTaskGroup(of: Void.self) { group in
                for key in keys {
                    group.addTask { [self] in
                        if waitsForAllReplies.load(ordering: .relaxed) {
                            // As before streaming: every reply first, then the chains.
                            let all = Shared<[KeywordRecord]>([])
                            await findRecords(key, askKnownFirst: false) { records in all.value.withLock { $0 += records } }
                            await fetchChains(of: all.value.withLock { $0 })
                        } else {
                            await findRecords(key) { records in await fetchChains(of: records) }
                        }
                    }
                }
            }
            session.finished.withLock { $0 = true }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while !session.finished.withLock({ $0 }) && Date() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        work.cancel()
        return session.emitNew()
    }
}

/// One running search: what was already reported, and the query to re-run as chains arrive.
final class SearchSession: Sendable {
    let term: SearchTerm
    let filter: SearchFilter
    let sort: SearchSort
    let limit: Int
    let catalog: FileCatalog
    let onResults: (@Sendable ([SearchResult]) -> Void)?
    let seen = Mutex(Set<String>())
    let finished = Mutex(false)

    init(term: SearchTerm, filter: SearchFilter, sort: SearchSort, limit: Int, catalog: FileCatalog,
         onResults: (@Sendable ([SearchResult]) -> Void)?) {
        self.term = term
        self.filter = filter
        self.sort = sort
        self.limit = limit
        self.catalog = catalog
        self.onResults = onResults
    }

    /// Re-runs the query on the catalog; reports results not reported before.
    @discardableResult
    func emitNew() -> [SearchResult] {
        let all = (try? catalog.search(term, filter: filter, sort: sort, limit: limit)) ?? []
        let fresh = seen.withLock { s in all.filter { s.insert($0.entry.owner.hexString + $0.entry.file.id.uuidString).inserted } }
        if !fresh.isEmpty { onResults?(fresh) }
        return all
    }
}

/// A value several tasks of one search share (a class, so task-group closures can hold it).
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}
