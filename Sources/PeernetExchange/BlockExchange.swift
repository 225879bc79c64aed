import Foundation
import Logging
import PeernetBlockchain
import PeernetCrypto
import PeernetNode
import PeernetProtocol
import PeernetStore
import PeernetSupport
import PeernetTransfer
import Synchronization

private let exchangeLog = Logger.peernet("exchange")

/// Why a transfer session was not made.
enum SessionRefused: Error {
    /// The peer has no known address.
    case noPath
    /// The transfer ID is in use already.
    case duplicateID
    /// Serving it would pass the per-peer or total cap.
    case overCap
}

/// A UDT connection bound to one lite session (transfer ID) and one peer.
final class TransferSession: Sendable {
    let id: TransferID
    let peer: PublicKey
    let connection: UDTConnection
    /// We send (a Get Block or Transfer request of the peer's that we serve).
    let serving: Bool
    let created = monotonicSeconds()

    init(id: TransferID, peer: PublicKey, connection: UDTConnection, serving: Bool) {
        self.id = id
        self.peer = peer
        self.connection = connection
        self.serving = serving
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Blockchain exchange (data.md §2): serves Get Block requests for our chain over UDT in lite
/// packets, fetches other peers' chains when they advertise a new height or version, and keeps
/// them, validated, in the cache. Reference-compatible in both directions: the requester
/// listens (UDT server), the holder dials and sends.
public final class BlockExchange: Sendable {
    public let node: Node
    public let store: LocalStore
    let sessions = Mutex<[TransferID: TransferSession]>([:])
    let syncing = Mutex<[PublicKey: Bool]>([:])
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// Blocks rejected by validation, for tests and status.
    public let rejectedBlocks = Mutex(0)
    /// Serves that hashed what they sent (content not known good; see `Warehouse.isChecked`).
    public let checkedServes = Atomic<Int>(0)
    /// Content we stopped offering because serving it showed our copy is damaged.
    public let damagedContent = Mutex<[Hash256]>([])
    /// What this exchange refuses from peers, with reasons, rate-limited (peernet.log).
    let rejections = RejectionLog(exchangeLog)

    /// Concurrent transfers (blocks or files) one peer may have us serve; more are refused.
    static let maxServedPerPeer = 16
    /// Concurrent transfers we serve to everyone together (fresh identities cost nothing, so a
    /// per-peer cap alone bounds nothing). Each holds at most `servedBufferBytes` queued plus
    /// its UDT window: 5 MiB on the fast path, so 320 MiB if all 64 were fast and stalled.
    static let maxServedTotal = 64
    /// Bytes a served transfer queues ahead of its UDT window; the rest is read as it drains.
    static let servedBufferBytes = 1 << 20
    /// File transfers started for peers (a figure for status and tests).
    public let servedTransfers = Mutex(0)
    let chainObservers = Mutex<[@Sendable (PublicKey) -> Void]>([])

    /// One line per running transfer (for status files).
    public func transferSummaries() -> [String] {
        sessions.withLock { Array($0.values) }.map { s in
            "\(s.id.uuidString) peer \(s.peer.hexString.prefix(16))… \(s.connection.state) rtt \(Int(s.connection.roundTripTime * 1000)) ms"
        }
    }

    /// Whether one more transfer may be served to `peer` (the per-peer and total caps).
    func mayServe(_ peer: PublicKey) -> Bool { sessions.withLock { Self.capsAllow(one: peer, in: $0) } }

    /// The caps, over the session table as it is (also checked inside the lock that adds a
    /// served session: decode workers run requests in parallel, and two requests checked
    /// before either was added made 17 sessions for one peer under a cap of 16).
    static func capsAllow(one peer: PublicKey, in all: [TransferID: TransferSession]) -> Bool {
        var mine = 0, total = 0
        for s in all.values where s.serving {
            total += 1
            if s.peer == peer { mine += 1 }
        }
        return mine < maxServedPerPeer && total < maxServedTotal
    }

    /// Served transfers running now (status and tests).
    public var servedSessionCount: Int { sessions.withLock { $0.values.filter(\.serving).count } }

    /// Timeouts: the reference's 10 s block-transfer idle expiry.
    let blockTransferTimeout: Double = 10

    /// Fetch the chain of every peer that advertises a new height or version (as the
    /// reference does); off, chains are fetched on demand only (search, browsing).
    let autoSync: Bool

    public init(node: Node, store: LocalStore, autoSync: Bool = true) {
        self.node = node
        self.store = store
        self.autoSync = autoSync
        node.setTransferHandler { [weak self] received, source, network in
            self?.handleRequest(received, source: source, network: network)
        }
        node.registerExtension(MerkleTreeMessage.command) { [weak self] received in self?.handleTreeRequest(received) }
        publishChainState()
        let ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(5))
                self?.tickSessions()
            }
        }
        let events = node.events
        let watcher = Task { [weak self] in
            for await event in events {
                guard let self else { return }
                if self.autoSync, case .blockchainChanged(let peer, let height, let version) = event {
                    self.scheduleSync(peer: peer, height: height, version: version)
                }
            }
        }
        tasks.withLock { $0 += [ticker, watcher] }
    }

    public func stop() {
        for t in tasks.withLock({ t in defer { t = [] }; return t }) { t.cancel() }
        for s in sessions.withLock({ s in defer { s = [:] }; return Array(s.values) }) {
            s.connection.close(reason: "stopped", now: monotonicSeconds())
            node.removeLiteSession(s.id)
        }
    }

    /// Advertises our chain's current height and version.
    public func publishChainState() {
        node.setBlockchain(height: store.chain.height, version: store.chain.version)
    }

    // MARK: Sessions

    func tickSessions() {
        let now = monotonicSeconds()
        var finished: [TransferSession] = []
        for session in sessions.withLock({ Array($0.values) }) {
            session.connection.tick(now: now)
            if case .closed = session.connection.state { finished.append(session) }
        }
        for session in finished {
            sessions.withLock { _ = $0.removeValue(forKey: session.id) }
            node.removeLiteSession(session.id)
        }
    }

    /// Registers a UDT connection on a lite session with `peer`; its packets go out as lite
    /// packets to the address the peer last used. With a cipher (the fast path between our
    /// nodes) every packet is sealed, and packets are as large as the path's MTU allows
    /// (`FastPathPacketSize`).
    /// A session we serve (role `.client`) is added only within the serving caps.
    func makeSession(id: TransferID, peer: PublicKey, role: UDTConnection.Role, idleTimeout: Double,
                     cipher: TransferCipher? = nil) throws(SessionRefused) -> TransferSession {
        guard let path = node.path(to: peer) else { throw .noPath }
        let target = Mutex(path)
        var config = UDTConnection.Configuration()
        config.idleTimeout = idleTimeout
        // As receiver we announce a large window (we buffer it); as sender we still respect what
        // the receiver announces (64 for reference nodes).
        config.flowWindow = 1024
        config.maxWindow = 1024
        if cipher != nil {
            // The MTU is taken only from the kernel for loopback and LAN paths: beyond them the
            // path may be narrower than the route says (tunnels, PPPoE) and ICMP that would
            // tell is often filtered, so the compatible size is kept.
            let local = path.endpoint.ip.isLoopback || path.endpoint.ip.isLANLocal
            let mtu = local ? PathMTU.query(path.endpoint) : nil
            config.maxPayload = FastPathPacketSize.payload(pathMTU: mtu, ipv6: !path.endpoint.ip.isIPv4)
            exchangeLog.debug("transfer \(id) with \(path.endpoint): fast path, \(config.maxPayload)-byte packets (path MTU \(mtu.map(String.init) ?? "not asked"))")
            // The window in packets: large packets need fewer in flight.
            config.flowWindow = config.maxPayload >= 8192 ? 256 : 1024
            config.maxWindow = config.flowWindow
        }
        let node = self.node
        let seal: @Sendable (UDTOutgoing) -> [UInt8]? = { packet in
            cipher.map { $0.litePacket(id: id, sealing: packet) } ?? (try? LitePacket.encode(id: id, dataCount: packet.count) { packet.copy(into: $0) })
        }
        let connection = UDTConnection(role: role, config: config, now: monotonicSeconds(), sendBatch: { packets in
            let lites = packets.compactMap(seal)
            let (endpoint, network) = target.withLock { $0 }
            node.sendRaw(batch: lites, to: endpoint, network: network)
        }) { bytes in
            guard let lite = seal(bytes) else { return }
            let (endpoint, network) = target.withLock { $0 }
            node.sendRaw(lite, to: endpoint, network: network)
        }
        let session = TransferSession(id: id, peer: peer, connection: connection, serving: role == .client)
        // A transfer ID already in use is refused. Before, a repeated request replaced the
        // session in the table: the old one, still holding its queued data, was never ticked,
        // timed out or counted against the caps again (found by the transfer fuzz target: a
        // peer repeating one request leaked the file's bytes each time, 5 GB in 170,000).
        let refused = sessions.withLock { all -> SessionRefused? in
            guard all[id] == nil else { return .duplicateID }
            if role == .client && !Self.capsAllow(one: peer, in: all) { return .overCap }
            all[id] = session
            return nil
        }
        if let refused { throw refused }
        node.registerLiteSession(id) { datagram, source in
            guard let range = try? LitePacket.dataRange(in: datagram) else { return }
            let data: [UInt8]
            if let cipher {
                // Opened straight from the datagram (no copy of the data first).
                guard let opened = cipher.open(datagram, range: range) else { return }  // forged or corrupted: dropped
                data = opened
            } else {
                data = Array(UnsafeRawBufferPointer(rebasing: datagram[range]))
            }
            target.withLock { $0.endpoint = source }
            connection.receive(data, now: monotonicSeconds())
        }
        return session
    }

    /// Whether `peer` runs this implementation (the encrypted fast path is offered only then).
    func isOwnKind(_ peer: PublicKey) -> Bool { node.peer(peer)?.isOurKind == true }

    // MARK: Serving

    func handleRequest(_ received: ReceivedPacket, source: Endpoint, network: Int) {
        switch received.packet.command {
        case .getBlock:
            guard let request = try? GetBlockMessage.decode(received.packet.payload), request.control == .requestStart else { return }
            serveBlocks(request, to: received.sender, sequence: received.packet.sequence)
        case .transfer:
            guard let request = try? TransferMessage.decode(received.packet.payload), request.control == .requestStart,
                  request.transferProtocol == 0 || request.transferProtocol == 1 else { return }
            serveFile(request, to: received.sender, sequence: received.packet.sequence)
        default:
            return
        }
    }

    func reply(_ control: GetBlockMessage.Control, key: PublicKey, to peer: PublicKey, sequence: UInt32) {
        guard let payload = try? GetBlockMessage(control: control, blockchainPublicKey: key).encode() else { return }
        try? node.sendPacket(Packet(command: .getBlock, sequence: sequence, payload: payload), to: peer)
    }

    /// §2.4 step 2-3: refuse what we do not serve, else dial the requester and stream.
    func serveBlocks(_ request: GetBlockMessage, to peer: PublicKey, sequence: UInt32) {
        guard request.blockchainPublicKey == node.publicKey else {
            return reply(.notAvailable, key: request.blockchainPublicKey, to: peer, sequence: sequence)
        }
        let height = store.chain.height
        guard height > 0 else { return reply(.empty, key: request.blockchainPublicKey, to: peer, sequence: sequence) }
        guard request.limitBlockCount > 0, mayServe(peer) else {
            rejections.reject("block request over the serving caps or for 0 blocks",
                              "from \(peer.hexString.prefix(16))… (\(Self.maxServedPerPeer) per peer, \(Self.maxServedTotal) in total)")
            return reply(.terminate, key: request.blockchainPublicKey, to: peer, sequence: sequence)
        }
        let session: TransferSession
        do {
            session = try makeSession(id: request.transferID, peer: peer, role: .client, idleTimeout: blockTransferTimeout)
        } catch .overCap {
            return reply(.terminate, key: request.blockchainPublicKey, to: peer, sequence: sequence)
        } catch {
            return
        }
        _ = node.openBidirectionalSequence(peer: peer, sequence: sequence, timeout: blockTransferTimeout, handler: { [weak session] received, _ in
            if let m = try? GetBlockMessage.decode(received.packet.payload), m.isLast {
                session?.connection.close(reason: "terminated by requester", now: monotonicSeconds())
            }
        })
        let chain = store.chain
        let writer = Mutex(BlockStreamWriter(ranges: request.targetBlocks, limit: request.limitBlockCount,
                                             maxBlockSize: request.maxBlockSize, height: height))
        // The first piece now (most replies are one piece), the rest as the window drains.
        let (first, done) = writer.withLock { w in (w.next(Self.servedBufferBytes) { try? chain.block($0) }, w.isFinished) }
        session.connection.write(first)
        session.connection.start(now: monotonicSeconds())
        if done {
            session.connection.finish()
            return
        }
        feed(session) { want in
            writer.withLock { w in
                let piece = w.next(want) { try? chain.block($0) }
                return w.isFinished && piece.isEmpty ? nil : piece
            }
        }
    }

    /// How much to read to fill a served queue holding `queued` bytes back to
    /// `servedBufferBytes`: whole 64 KiB units, so that pieces of a fragment-aligned range stay
    /// aligned to BLAKE3's 16-chunk subtrees (the served bytes are hashed as they go out, and
    /// pieces of any length sent every piece's tail and the next one's start through the
    /// block-by-block path: 3.8% of a fast-path download's CPU, perf).
    static func pieceSize(queued: Int) -> Int {
        max(pieceUnit, (servedBufferBytes - min(queued, servedBufferBytes)) / pieceUnit * pieceUnit)
    }
    static let pieceUnit = 64 << 10

    /// Keeps a served session's queue topped up with what `next` produces (when half of
    /// `servedBufferBytes` is left, back up to all of it), until `next` returns nil or the
    /// session closes; then finishes the stream. Memory per session stays bounded whatever was
    /// asked for: `servedBufferBytes` queued plus the UDT window (1,024 packets of 1,198 bytes
    /// in compatible mode, 256 of 16 KiB on the fast path). The task ends with its session
    /// (`stop` closes every session).
    ///
    /// The bound is on the queue, not on queue plus window: counting the packets in flight
    /// kept the fast path's window at most half full, and a 2 ms sleep between checks let it
    /// run dry. The 1 GiB fast-path download ran at 184-213 MB/s instead of 457-468.
    func feed(_ session: TransferSession, next: @escaping @Sendable (Int) -> [UInt8]?) {
        Task.detached {
            while true {
                await session.connection.waitForRoom(Self.servedBufferBytes / 2)
                if case .closed = session.connection.state { break }
                guard let piece = next(Self.pieceSize(queued: session.connection.queuedBytes)) else { break }
                if !piece.isEmpty { session.connection.write(piece) }
            }
            session.connection.finish()
        }
    }

    /// Serves a byte range of warehouse content: 16-byte header (file size, transfer size) then
    /// the bytes (transfer.md §4). Requests beyond the file are ignored, as in the reference.
    func serveFile(_ request: TransferMessage, to peer: PublicKey, sequence: UInt32) {
        // Our own shares, or a complete verified download (downloaders become providers).
        let fromWarehouse = store.warehouse.size(of: request.hash)
        let fromCache = fromWarehouse == nil ? (try? store.downloads.entry(request.hash, includeTree: false)).flatMap { $0.isComplete ? $0.size : nil } : nil
        // The range is checked without arithmetic that can overflow: offset + limit from the
        // wire once trapped here, and one packet ended any node (offset and limit are u64).
        guard let size = fromWarehouse ?? fromCache, request.offset <= size, request.limit <= size - request.offset,
              mayServe(peer) else {
            if let size = fromWarehouse ?? fromCache {
                rejections.reject("file request out of range or over the serving caps",
                                  "offset \(request.offset) limit \(request.limit) of \(size) bytes from \(peer.hexString.prefix(16))…")
            }
            return refuseFile(request, to: peer, sequence: sequence)
        }
        let length = request.limit == 0 ? size - request.offset : request.limit
        let cipher = request.transferProtocol == 1
            ? TransferCipher(local: node.key, remote: peer, transferID: request.transferID, isRequester: false) : nil
        if request.transferProtocol == 1 && cipher == nil { return }
        let session: TransferSession
        do {
            session = try makeSession(id: request.transferID, peer: peer, role: .client, idleTimeout: 60, cipher: cipher)
        } catch .overCap {
            return refuseFile(request, to: peer, sequence: sequence)
        } catch {
            return
        }
        servedTransfers.withLock { $0 += 1 }
        _ = node.openBidirectionalSequence(peer: peer, sequence: sequence, timeout: 60, handler: { [weak session] received, _ in
            if let m = try? TransferMessage.decode(received.packet.payload), m.isLast {
                session?.connection.close(reason: "terminated by requester", now: monotonicSeconds())
            }
        })
        session.connection.write(FileTransferHeader(fileSize: size, transferSize: length).encode())
        let warehouse = store.warehouse
        let downloads = store.downloads
        let useCache = fromWarehouse == nil
        let hash = request.hash
        session.connection.start(now: monotonicSeconds())
        // Read in pieces as the window drains, so memory stays bounded. `offset` never passes
        // `end` (= offset + length <= size, checked above).
        let cursor = Mutex(request.offset)
        let end = request.offset + length
        // What we serve is checked against the content's tree on the way out.
        let tree = useCache ? (try? downloads.entry(hash, includeTree: true))?.flatMap { e in
            e.tree ?? (e.fragmentCount < 2 ? MerkleTree(fileSize: e.size, fragmentSize: e.fragmentSize, fragmentHashes: [], fileHash: hash) : nil)
        } : try? warehouse.merkleTree(hash)
        // ...unless the warehouse knows it good as it is (see CheckedContent): a serve that checks
        // all of it from the start makes it so.
        let version = useCache ? nil : warehouse.version(of: hash)
        let known = version.map { warehouse.isChecked(hash, version: $0) } ?? false
        let verifier = Mutex(known ? nil : tree.map { ServedContentVerifier(tree: $0, offset: request.offset) })
        if verifier.withLock({ $0 != nil }) { checkedServes.add(1, ordering: .relaxed) }
        let checksWhole = !known && tree != nil && version != nil && request.offset == 0 && end == size
        feed(session) { [weak self] want in
            cursor.withLock { offset -> [UInt8]? in
                guard offset < end else { return nil }
                let n = Int(min(UInt64(want), end - offset))
                let piece = useCache ? try? downloads.read(hash, offset: offset, length: n) : try? warehouse.read(hash, offset: offset, length: n)
                guard let chunk = piece, !chunk.isEmpty, chunk.count <= n else { return nil }
                if let bad = verifier.withLock({ $0?.feed(chunk) }) {
                    session.connection.close(reason: "our copy is damaged", now: monotonicSeconds())
                    self?.contentDamaged(hash, fragment: bad, inDownloads: useCache)
                    return nil
                }
                offset += UInt64(chunk.count)
                if offset == end, checksWhole, let version { warehouse.checkedWhole(hash, version: version) }
                return chunk
            }
        }
    }

    /// Tells the requester we do not serve that range now (Not Available).
    func refuseFile(_ request: TransferMessage, to peer: PublicKey, sequence: UInt32) {
        var m = TransferMessage(control: .notAvailable, hash: request.hash)
        m.transferProtocol = request.transferProtocol
        if let payload = try? m.encode() { try? node.sendPacket(Packet(command: .transfer, sequence: sequence, payload: payload), to: peer) }
    }

    /// Our copy of `hash` failed its own check while we served it: stop offering it and say so.
    func contentDamaged(_ hash: Hash256, fragment: Int, inDownloads: Bool) {
        let first = damagedContent.withLock { d -> Bool in
            guard !d.contains(hash) else { return false }
            d.append(hash)
            return true
        }
        guard first else { return }
        let done: String
        if inDownloads {
            try? store.downloads.remove(hash)
            done = "removed from the download cache"
        } else {
            done = store.warehouse.quarantine(hash)
        }
        exchangeLog.error("content \(hash.hex) is damaged: fragment \(fragment) does not match its hash; stopped offering it (\(done)). Share the file again to offer it, or run peernet repair --check")
    }

    // MARK: Fetching

    public enum FetchError: Error, Equatable, CustomStringConvertible {
        case notConnected, notAvailable, empty, terminated, timeout, protocolError(String)
        public var description: String {
            switch self {
            case .notConnected: return "the peer is not connected"
            case .notAvailable: return "the peer does not serve that blockchain"
            case .empty: return "the blockchain is empty"
            case .terminated: return "the peer ended the transfer"
            case .timeout: return "the transfer timed out"
            case .protocolError(let m): return "protocol error: \(m)"
            }
        }
    }

    /// Requests blocks of `owner`'s chain from `peer` (usually the owner) and returns them as
    /// they were streamed. Nothing is validated here (see `sync`).
    public func fetchBlocks(owner: PublicKey, from peer: PublicKey, ranges: [BlockRange], limit: UInt64,
                            maxBlockSize: UInt64, timeout: Double = 30) async throws -> [BlockStreamReader.Item] {
        let id = TransferID.random()
        let sequence = node.nextSequence(for: peer)
        guard let session = try? makeSession(id: id, peer: peer, role: .server, idleTimeout: blockTransferTimeout) else {
            throw FetchError.notConnected
        }
        let outcome = FetchOutcome()
        var reader = BlockStreamReader(ranges: ranges, maxBlockSize: maxBlockSize)
        let readerBox = Mutex(reader)
        session.connection.onData = { bytes in
            do {
                let items = try readerBox.withLock { r in try r.feed(Array(bytes)) }
                outcome.add(items)
                if readerBox.withLock({ $0.isComplete }) { outcome.finish(nil) }
            } catch {
                outcome.finish(.protocolError("\(error)"))
            }
        }
        session.connection.onStateChange = { state in
            if case .closed(let why) = state, why != "done" { outcome.finish(.protocolError("UDT closed: \(why)")) }
        }
        _ = node.openBidirectionalSequence(peer: peer, sequence: sequence, timeout: blockTransferTimeout, handler: { received, _ in
            guard let m = try? GetBlockMessage.decode(received.packet.payload) else { return }
            switch m.control {
            case .notAvailable: outcome.finish(.notAvailable)
            case .empty: outcome.finish(.empty)
            case .terminate: outcome.finish(.terminated)
            default: break
            }
        }, onExpire: { [blockTransferTimeout] in
            // Blocks come over UDT, which does not refresh the sequence: its expiry ends only
            // a fetch that has gone quiet (it ended every fetch longer than 10 s, a large chain
            // on a slow link or a busy machine, while the blocks were still coming).
            if outcome.quietSeconds() > blockTransferTimeout { outcome.finish(.timeout) }
        })
        defer {
            node.closeBidirectionalSequence(peer: peer, sequence: sequence)
            session.connection.close(reason: "fetch ended", now: monotonicSeconds())
        }
        let request = GetBlockMessage.request(blockchain: owner, limitBlockCount: limit, maxBlockSize: maxBlockSize,
                                              transferID: id, ranges: ranges)
        try node.sendPacket(Packet(command: .getBlock, sequence: sequence, payload: try request.encode()), to: peer)
        reader = readerBox.withLock { $0 }
        let deadline = monotonicSeconds() + timeout
        while !outcome.isFinished && monotonicSeconds() < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        if let error = outcome.error { throw error }
        guard outcome.isFinished else { throw FetchError.timeout }
        return outcome.items
    }

    /// Brings the cached copy of `peer`'s chain up to date with what it advertised; every
    /// block is validated before it is stored. Returns how many blocks were stored.
    @discardableResult
    public func sync(peer: PublicKey, height: UInt64, version: UInt64) async -> Int {
        guard let assessment = try? store.cache.assess(owner: peer, version: version, height: height) else { return 0 }
        if case .olderThanCached = assessment {
            rejections.reject("a chain older than the one cached (no rollback)",
                              "\(peer.hexString.prefix(16))… offers version \(version) height \(height)")
        }
        guard case .download(let from, let count) = assessment else { return 0 }
        let limits = store.cache.limits
        guard let items = try? await fetchBlocks(owner: peer, from: peer, ranges: [BlockRange(offset: from, count: count)],
                                                 limit: count, maxBlockSize: limits.maxBlockSize) else {
            if let header = try? store.cache.header(peer), header.blocks == 0 { try? store.cache.drop(peer) }
            return 0
        }
        // One transaction for the whole batch; a rejected block was checked before any of it
        // was written, so it leaves no trace and does not undo the others.
        let blocks = items.compactMap { item -> (number: UInt64, raw: [UInt8])? in
            if case .block(let number, let raw) = item { return (number, raw) }
            return nil
        }.sorted { $0.number < $1.number }
        var stored = 0, rejected = 0
        var why = ""
        do {
            let result = try store.cache.ingest(owner: peer, blocks: blocks)
            stored = result.stored
            rejected = result.rejected.count
            if let last = result.rejected.last { why = "block \(last.number): \(last.error)" }
        } catch {
            exchangeLog.error("caching \(blocks.count) blocks of \(peer.hexString.prefix(16))…'s chain failed, none kept: \(error)")
        }
        if rejected > 0 {
            rejectedBlocks.withLock { $0 += rejected }
            rejections.reject("blocks that fail validation", "\(rejected) of \(peer.hexString.prefix(16))…'s chain (version \(version)), last \(why)")
        }
        if stored == 0, let header = try? store.cache.header(peer), header.blocks == 0 {
            // Nothing arrived for an announced chain: no header stays behind (retries make it again).
            try? store.cache.drop(peer)
        }
        for observer in chainObservers.withLock({ $0 }) { observer(peer) }
        return stored
    }

    /// Called with the peer whose cached chain was just updated (a file system drops what it
    /// cached about that peer's files).
    public func observeCachedChains(_ observer: @escaping @Sendable (PublicKey) -> Void) {
        chainObservers.withLock { $0.append(observer) }
    }

    /// One sync at a time per peer; a change during a sync triggers one more.
    func scheduleSync(peer: PublicKey, height: UInt64, version: UInt64) {
        let start = syncing.withLock { s -> Bool in
            if s[peer] != nil { s[peer] = true; return false }
            s[peer] = false
            return true
        }
        guard start else { return }
        let task = Task { [weak self] in
            guard let self else { return }
            var h = height, v = version
            while true {
                await self.sync(peer: peer, height: h, version: v)
                // A sync that fell short (a timeout under load, a lost packet) is retried a few
                // times, or the peer's change would only be seen at its next announcement.
                for delay in [1.0, 3.0, 9.0] {
                    // Only while the peer still advertises what we were syncing to: assessing a
                    // stale (older) version would drop the newer chain we may have by now.
                    guard !Task.isCancelled, self.node.isConnected(peer), let info = self.node.peer(peer),
                          info.blockchainHeight == h, info.blockchainVersion == v,
                          self.syncing.withLock({ $0[peer] }) != true,
                          let a = try? self.store.cache.assess(owner: peer, version: v, height: h), case .download = a else { break }
                    do { try await Task.sleep(for: .seconds(delay)) } catch { break }
                    await self.sync(peer: peer, height: h, version: v)
                }
                let again = self.syncing.withLock { s -> Bool in
                    if s[peer] == true { s[peer] = false; return true }
                    s[peer] = nil
                    return false
                }
                guard again, let info = self.node.peer(peer) else { return }
                h = info.blockchainHeight
                v = info.blockchainVersion
            }
        }
        tasks.withLock { $0.append(task) }
    }
}

extension BlockStreamReader.Item {
    var number: UInt64 {
        switch self {
        case .block(let n, _): return n
        case .missing(let n, _): return n
        }
    }
}

/// Collects a fetch's items and its end (first end wins).
final class FetchOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var _items: [BlockStreamReader.Item] = []
    private var _finished = false
    private var _error: BlockExchange.FetchError?

    private var _lastData = monotonicSeconds()

    /// Items decoded from data that just arrived (possibly none yet): the fetch is not quiet.
    func add(_ items: [BlockStreamReader.Item]) { lock.lock(); _items += items; _lastData = monotonicSeconds(); lock.unlock() }
    /// Seconds since data last arrived (or since the fetch began).
    func quietSeconds() -> Double { lock.lock(); defer { lock.unlock() }; return monotonicSeconds() - _lastData }
    func finish(_ error: BlockExchange.FetchError?) {
        lock.lock()
        defer { lock.unlock() }
        guard !_finished else { return }
        _finished = true
        _error = error
    }
    var isFinished: Bool { lock.lock(); defer { lock.unlock() }; return _finished }
    var error: BlockExchange.FetchError? { lock.lock(); defer { lock.unlock() }; return _error }
    var items: [BlockStreamReader.Item] { lock.lock(); defer { lock.unlock() }; return _items }
}
