import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetNode
import PeernetProtocol
import PeernetStore
import PeernetSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Logging

private let fsLog = Logger.peernet("fs")

/// What an inode stands for: its identity, which the inode tables key on. What it does is its
/// kind: `directory` (an `FSDirectory`: RootDirectory, PeersDirectory, PeerFolder, …) or
/// `file` (an `FSFile`: PublishedFile, ContentFile, StatusFile, PeerAlias), in Tree/.
/// Directory contents are computed from the store when listed.
public enum FSNode: Hashable, Sendable {
    case root
    /// A file or folder of me/, the share folder (its backing inode; see ShareFolderInodes).
    case local(UInt64)
    /// One of our own published files where it shows outside me/ (search results).
    case meFile(TransferID)
    case peers
    case peer(PublicKey, path: [String])
    case peerFile(PublicKey, TransferID)
    case search
    case searchTerm(String)
    case files
    case hashFile(Hash256)
    case status
    case statusFile(String)
    /// peers/<profile name>: a symbolic link to peers/<peer id>.
    case peerAlias(PublicKey)
    /// me, when it is a symbolic link to the share folder (`ShareView.link`).
    case shareLink

    /// A directory outside me/ (me/'s own folders pass through: see ShareFolderInodes).
    public var isDirectory: Bool { directory != nil }
    /// A symbolic link outside me/ (a listing's entry type, without computing attributes).
    public var isSymlink: Bool {
        switch self {
        case .peerAlias, .shareLink: return true
        default: return false
        }
    }
}

/// Errors as errno values for the kernel.
public struct FSError: Error, Equatable {
    public let errno: Int32
    public static let notFound = FSError(errno: ENOENT)
    public static let io = FSError(errno: EIO)
    public static let readOnly = FSError(errno: EROFS)
    public static let notPermitted = FSError(errno: EPERM)
    public static let exists = FSError(errno: EEXIST)
    public static let notEmpty = FSError(errno: ENOTEMPTY)
    public static let notDirectory = FSError(errno: ENOTDIR)
    public static let isDirectory = FSError(errno: EISDIR)
    public static let invalid = FSError(errno: EINVAL)
    public static let noAttribute = FSError(errno: ENODATA)
    public static let range = FSError(errno: ERANGE)
}

/// Attributes of an inode, as `stat` shows them.
public struct FSAttributes: Sendable, Equatable {
    public var size: UInt64
    public var isDirectory: Bool
    public var modified: Int64
    /// A symbolic link (its target from `linkTarget`).
    public var isSymlink = false
}

/// The Peernet network as a file tree (the model behind the FUSE mount; testable without it):
///
///     me/            your share folder, a real local folder (the publisher publishes it)
///     peers/<id>/    every known peer's shares, from its (cached) blockchain
///     search/<term>/ the results of searching the network for <term>
///     files/<hash>   any file by its content hash
///     .peernet/      status: peers, transfers, cache, identity
public final class PeernetFileSystem: @unchecked Sendable {
    public let node: Node
    public let store: LocalStore
    public let exchange: BlockExchange
    public let search: NetworkSearch
    public let downloader: FileDownloader
    /// Bound on how long a read waits for the network (then EIO).
    public let readTimeout: Double
    /// When this file system was made (the time of entries that have none of their own).
    let startTime = Int64(Date().timeIntervalSince1970)
    private let shareLinked = Atomic(false)
    /// Whether me is a symbolic link to the share folder (`FuseMount.ShareView.link`), set
    /// before the mount is made: the kernel must never see me as a directory of this mount.
    public var isShareLinked: Bool {
        get { shareLinked.load(ordering: .relaxed) }
        set { shareLinked.store(newValue, ordering: .relaxed) }
    }
    /// Publishes me/ (the share folder).
    public let publisher: SharePublisher
    /// The share folder's inodes.
    let share: ShareFolderInodes

    struct Tables {
        var byNode: [FSNode: UInt64] = [.root: 1]
        var byInode: [UInt64: FSNode] = [1: .root]
        var next: UInt64 = 2
        /// The kernel's lookup count per inode (entries it was given); at zero (FORGET) the
        /// number is dropped, so the tables hold what the kernel holds, not every node ever seen.
        var lookups: [UInt64: UInt64] = [:]
        /// Sanitised name -> node, per directory, as last listed (lookups use the same names).
        var names: [FSNode: [String: FSNode]] = [:]
        /// Listings of peer directories in order, kept until the peer's chain changes (or any
        /// listing is invalidated): a peer's files change only with its chain, and listing a
        /// 10,000-file folder again (every `ls`) would decode, sort and sanitise it all again.
        var peerListings: [FSNode: [(String, FSNode)]] = [:]
        /// Per search term: when the search started, the results so far, whether it still runs.
        var searchResults: [String: (time: Date, files: [CatalogEntry], running: Bool)] = [:]
        /// Profile names of peers ("" for none), dropped when their chain changes.
        var profileNames: [PublicKey: String] = [:]
        /// Bumped whenever listings are invalidated (a peer's chain changed; see `chainChanged`).
        var namesGeneration: UInt64 = 0
    }

    let tables = Mutex(Tables())

    public init(node: Node, store: LocalStore, exchange: BlockExchange, search: NetworkSearch, downloader: FileDownloader,
                publisher: SharePublisher, readTimeout: Double) throws {
        self.node = node
        self.store = store
        self.exchange = exchange
        self.search = search
        self.downloader = downloader
        self.publisher = publisher
        self.readTimeout = readTimeout
        share = try ShareFolderInodes(path: publisher.folder.path)
        // Staging of the first drive design (files were published from there on close).
        try? FileManager.default.removeItem(at: store.dataDirectory.file("staging"))
        exchange.observeCachedChains { [weak self] peer in self?.chainChanged(peer) }
    }

    /// The file system over a runtime (the composition root's parts).
    public convenience init(runtime: PeernetRuntime, readTimeout: Double) throws {
        try self.init(node: runtime.node, store: runtime.store, exchange: runtime.exchange, search: runtime.search,
                      downloader: runtime.downloader, publisher: runtime.publisher, readTimeout: readTimeout)
    }

    /// A peer's profile name from its cached chain (remembered until the chain changes).
    func profileName(_ owner: PublicKey) -> String? {
        if let known = tables.withLock({ $0.profileNames[owner] }) { return known }
        let bytes = (try? store.cache.profile(owner))?[ProfileField.name]
        let name = bytes.map { String(decoding: $0, as: UTF8.self) }.map { String($0.prefix(200)) } ?? ""
        tables.withLock { $0.profileNames[owner] = name }
        return name
    }

    /// The target of a symbolic link node.
    public func linkTarget(_ n: FSNode) throws -> String {
        guard let file = n.file else { throw FSError.invalid }
        return try file.linkTarget(self)
    }

    /// Tells the kernel to forget cached entries: (directory inode, name) pairs, then inodes
    /// whose attributes and pages are stale. Set by the FUSE front end.
    public let invalidator = Mutex<Invalidator?>(nil)
    /// A closure in a struct, not bare in the Mutex: see `Node.TransferHandler` (each access
    /// of a bare one wraps it in two more thunks).
    public struct Invalidator: Sendable {
        public let call: @Sendable ([(parent: UInt64, name: String)], [UInt64]) -> Void
        public init(_ call: @escaping @Sendable ([(parent: UInt64, name: String)], [UInt64]) -> Void) { self.call = call }
    }

    /// A peer's cached chain changed: its listings are recomputed, and the kernel drops the
    /// entries it cached under peers/<id>/ (remote entries are otherwise cached for a minute).
    func chainChanged(_ peer: PublicKey) {
        let (entries, inodes) = tables.withLock { t -> ([(parent: UInt64, name: String)], [UInt64]) in
            var entries: [(parent: UInt64, name: String)] = []
            var inodes: [UInt64] = []
            t.profileNames[peer] = nil
            t.namesGeneration &+= 1
            if let p = t.byNode[.peers] { inodes.append(p); entries += (t.names[.peers] ?? [:]).filter { if case .peerAlias = $0.value { return true }; return false }.keys.map { (parent: p, name: $0) } }
            t.names[.peers] = nil
            t.peerListings = t.peerListings.filter { if case .peer(let owner, _) = $0.key { return owner != peer }; return true }
            for (parent, children) in t.names {
                guard case .peer(let owner, _) = parent, owner == peer else { continue }
                if let p = t.byNode[parent] {
                    inodes.append(p)
                    entries += children.keys.map { (parent: p, name: $0) }
                }
                t.names[parent] = nil
            }
            return (entries, inodes)
        }
        if !entries.isEmpty || !inodes.isEmpty, let notify = invalidator.withLock({ $0 }) { notify.call(entries, inodes) }
    }

    // MARK: Inodes

    /// The inode of a node handed to the kernel in an entry (a lookup): counted until it
    /// forgets it.
    public func lookedUp(_ node: FSNode) -> UInt64 {
        if case .local(let key) = node { return ShareFolderInodes.localBit | key }
        return tables.withLock { t in
            let i: UInt64
            if let known = t.byNode[node] {
                i = known
            } else {
                i = t.next
                t.next += 1
                t.byNode[node] = i
                t.byInode[i] = node
            }
            t.lookups[i, default: 0] += 1
            return i
        }
    }

    /// FORGET: the kernel dropped `count` lookups of `inode`; at none left, the number goes
    /// (a later lookup of the same node gets a new one).
    public func forget(_ inode: UInt64, _ count: UInt64) {
        guard inode != 1, inode & ShareFolderInodes.localBit == 0 else { return }
        tables.withLock { t in
            let held = t.lookups[inode] ?? 0
            guard held <= count else { t.lookups[inode] = held - count; return }
            t.lookups[inode] = nil
            if let node = t.byInode.removeValue(forKey: inode) { t.byNode[node] = nil }
        }
    }

    /// Inodes the tables hold besides the root (for tests and status).
    public var inodeCount: Int { tables.withLock { $0.byInode.count - 1 } }

    /// The node behind an inode.
    public func node(for inode: UInt64) -> FSNode? {
        if inode & ShareFolderInodes.localBit != 0 {
            let key = inode & ~ShareFolderInodes.localBit
            return share.exists(key) ? .local(key) : nil
        }
        return tables.withLock { $0.byInode[inode] }
    }

    /// The inode of a node if the kernel may know it, else a stable number for a listing
    /// (readdir does not count as a lookup: numbers handed out there would never be forgotten).
    func listingInode(for node: FSNode) -> UInt64 {
        if case .local(let key) = node { return ShareFolderInodes.localBit | key }
        if let known = tables.withLock({ $0.byNode[node] }) { return known }
        return UInt64(truncatingIfNeeded: node.hashValue) & ~ShareFolderInodes.localBit | (1 << 61)
    }

    // MARK: Listing

    var me: PublicKey { store.chain.owner }

    /// The children of a directory node as (sanitised unique name, node).
    public func children(of dir: FSNode) throws -> [(String, FSNode)] {
        let (generation, cached) = tables.withLock { ($0.namesGeneration, $0.peerListings[dir]) }
        if let cached { return cached }
        guard let kind = dir.directory else { throw FSError.notDirectory }
        let list = try kind.entries(self)
        // Unique names; remember them for lookups.
        var taken = Set<String>()
        var unique: [(String, FSNode)] = []
        for (name, n) in list {
            let u = NameSanitizer.unique(NameSanitizer.component(name), taken: taken)
            taken.insert(u)
            unique.append((u, n))
        }
        tables.withLock { t in
            guard t.namesGeneration == generation else { return }
            t.names[dir] = Dictionary(unique.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
            if kind.keepsListing { t.peerListings[dir] = unique }
        }
        return unique
    }

    /// The results of searching for `term` so far (no waiting; see `awaitSearchResults`).
    /// The first listing starts the search (again after a minute); results keep arriving in
    /// the background, so a later listing shows more.
    func searchResults(_ term: String) -> [CatalogEntry] {
        startSearchIfDue(term)
        return tables.withLock { $0.searchResults[term]?.files ?? [] }
    }

    /// Waits (at most 5 s, or the read timeout) for the first results of the search for
    /// `term`, then a moment more to gather a batch; starts the search if it is due. Throws
    /// CancellationError when its task is cancelled: a listing whose caller got a signal.
    func awaitSearchResults(_ term: String) async throws {
        let now = Date()
        startSearchIfDue(term, now: now)
        let deadline = now.addingTimeInterval(min(readTimeout, 5))
        var firstSeen: Date?
        while Date() < deadline {
            let (count, running) = tables.withLock { t in (t.searchResults[term]?.files.count ?? 0, t.searchResults[term]?.running ?? false) }
            if !running { break }
            if count > 0 {
                if firstSeen == nil { firstSeen = Date() }
                if Date().timeIntervalSince(firstSeen!) > 0.3 { break }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Starts the search for `term` unless it runs or ran less than a minute ago.
    func startSearchIfDue(_ term: String, now: Date = Date()) {
        let start = tables.withLock { t -> Bool in
            if let c = t.searchResults[term], c.running || now.timeIntervalSince(c.time) < 60 { return false }
            t.searchResults[term] = (now, t.searchResults[term]?.files ?? [], true)
            return true
        }
        guard start else { return }
        let search = self.search
        let timeout = max(readTimeout, 10)
        @Sendable func add(_ results: [SearchResult]) {
            self.tables.withLock { t in
                guard var c = t.searchResults[term] else { return }
                var seen = Set(c.files.map { "\($0.owner.hexString)/\($0.file.id)" })
                for r in results where seen.insert("\(r.entry.owner.hexString)/\(r.entry.file.id)").inserted { c.files.append(r.entry) }
                t.searchResults[term] = c
            }
        }
        // A repeated search starts from scratch (results may have gone).
        tables.withLock { t in t.searchResults[term]?.files = [] }
        Task.detached { [self] in
            let all = await search.search(term, limit: 500, timeout: timeout, onResults: { add($0) })
            add(all)
            // Once done, the listing is in rank order (files matching every word first):
            // `ls -U` shows it.
            self.tables.withLock { t in
                guard var c = t.searchResults[term] else { return }
                let ranked = all.map(\.entry)
                let key = { (e: CatalogEntry) in "\(e.owner.hexString)/\(e.file.id)" }
                let inRanked = Set(ranked.map(key))
                c.files = ranked + c.files.filter { !inRanked.contains(key($0)) }
                c.running = false
                t.searchResults[term] = c
            }
        }
    }

    /// A child already listed under `parent` (no listing, no waiting).
    func listedChild(_ parent: FSNode, _ name: String) -> FSNode? {
        tables.withLock { $0.names[parent]?[name] }
    }

    /// Searches are forgotten when nobody looked at them for this long (search/ lists them).
    static let defaultSearchLifetime: Double = 30 * 60
    /// How long a search nobody looks at is kept (30 minutes; tests shorten it).
    public let searchLifetime = Mutex(PeernetFileSystem.defaultSearchLifetime)
    /// At most this many searches are kept; the oldest go first.
    static let maxSearches = 200

    /// Drops searches that are old and not running, and the oldest past `maxSearches`.
    func expireSearches(now: Date = Date()) {
        tables.withLock { t in
            let lifetime = searchLifetime.withLock { $0 }
            for (term, s) in t.searchResults where !s.running && s.time != .distantPast && now.timeIntervalSince(s.time) > lifetime {
                t.searchResults[term] = nil
            }
            if t.searchResults.count > Self.maxSearches {
                let oldest = t.searchResults.sorted { $0.value.time < $1.value.time }.prefix(t.searchResults.count - Self.maxSearches)
                for (term, _) in oldest { t.searchResults[term] = nil }
            }
            t.names[.search] = nil
        }
    }

    /// rmdir search/<terms>: forgets that search.
    public func forgetSearch(_ term: String) throws {
        let known = tables.withLock { t -> Bool in
            defer { t.searchResults[term] = nil; t.names[.search] = nil }
            return t.searchResults[term] != nil
        }
        if !known { throw FSError.notFound }
    }

    /// Finds a child by name (listing the directory if it was not listed yet).
    public func lookup(_ parent: FSNode, _ name: String) throws -> FSNode {
        guard let kind = parent.directory else { throw FSError.notDirectory }
        if let found = try kind.child(name, self) { return found }
        if let found = tables.withLock({ $0.names[parent]?[name] }) { return found }
        if let found = try children(of: parent).first(where: { $0.0 == name })?.1 { return found }
        throw FSError.notFound
    }

    // MARK: Files and attributes

    public func attributes(_ n: FSNode) throws -> FSAttributes {
        if n.isDirectory { return FSAttributes(size: 0, isDirectory: true, modified: Int64(Date().timeIntervalSince1970)) }
        guard let file = n.file else { throw FSError.notFound }
        return try file.attributes(self)
    }

    /// Read data: bytes, or an open region of a local file (warehouse or download cache) that
    /// the FUSE layer hands to the kernel without copying it through Swift.
    public enum ReadData: Sendable {
        case bytes([UInt8])
        case file(FileRegion)
    }

    /// A region of a local file, opened when the read was answered: a cache file evicted after
    /// that still reads (the descriptor holds it). Closed when the last reference goes.
    public final class FileRegion: Sendable {
        public let fd: Int32
        public let offset: UInt64
        public let length: Int
        /// A committed region of the download cache: once the reply has copied it into the
        /// kernel's cache of the remote file, its pages in the cache file are a second copy
        /// nobody reads soon (see `FileDownloader.readRegion`'s `dropBehind`).
        public let dropAfterReply: Bool

        init?(path: String, offset: UInt64, length: Int, dropAfterReply: Bool = false) {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            self.offset = offset
            self.length = length
            self.dropAfterReply = dropAfterReply
        }

        deinit { close(fd) }
    }

    /// Reads file data as the FUSE layer wants it: own content as a region of its warehouse
    /// file, remote content as a region of the download cache after a verified fetch (bounded
    /// by the read timeout: EIO when no holder delivers in time), anything else as bytes.
    /// Outside an open file (the FUSE layer reads through its `OpenFile`).
    public func readData(_ n: FSNode, offset: UInt64, length: Int) async throws -> ReadData {
        guard let file = n.file else { throw FSError.isDirectory }
        return try await file.readData(self, offset: offset, length: length, open: nil)
    }

    /// Remote content: a region of the download cache once fetched and verified.
    func remoteRegion(_ target: DownloadTarget, offset: UInt64, length: Int, cursor: ReadCursor?) async throws -> ReadData {
        if offset >= target.size { return .bytes([]) }
        // Twice at most: the cache file can be evicted between the fetch and the open; the
        // second pass fetches the region again.
        for _ in 0..<2 {
            let region = try await withTimeout(readTimeout) { [downloader] in
                try await downloader.readRegion(target, offset: offset, length: length, cursor: cursor, dropBehind: true)
            }
            guard let region else { return .bytes([]) }
            if let open = FileRegion(path: region.path, offset: region.offset, length: region.length, dropAfterReply: region.dropAfterRead) { return .file(open) }
        }
        fsLog.warning("the download cache lost \(target.hash.hex.prefix(12))… twice while reading it")
        throw FSError.io
    }

    /// Own content: a region of the warehouse file (nil if it is not in the warehouse, or was
    /// unshared a moment ago: then it is fetched like remote content).
    func localRegion(_ hash: Hash256, offset: UInt64, length: Int) -> ReadData? {
        // One resolution of the content (a link into the share folder is read and checked once).
        guard let source = store.warehouse.contentPath(hash) else { return nil }
        var st = stat()
        guard stat(source, &st) == 0 else { return nil }
        let size = UInt64(st.st_size)
        guard offset < size else { return .bytes([]) }
        let region = FileRegion(path: source, offset: offset, length: Int(min(UInt64(length), size - offset)))
        return region.map { .file($0) }
    }

    /// Reads file data as bytes (tests and tools; FUSE uses `readData`).
    public func read(_ n: FSNode, offset: UInt64, length: Int) async throws -> [UInt8] {
        switch try await readData(n, offset: offset, length: length) {
        case .bytes(let bytes): return bytes
        case .file(let region):
            var out = [UInt8](repeating: 0, count: region.length)
            let got = out.withUnsafeMutableBytes { pread(region.fd, $0.baseAddress, region.length, off_t(region.offset)) }
            return Array(out.prefix(max(0, got)))
        }
    }

    /// Runs `body`, failing with EIO after `seconds`.
    func withTimeout<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                throw FSError.io
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw FSError.io }
            return first
        }
    }

    // MARK: Extended attributes

    /// A search's state as `user.peernet.search` shows it: an empty listing looks the same
    /// whether the search still runs or found nothing.
    func searchState(_ term: String) -> String {
        guard let s = tables.withLock({ $0.searchResults[term] }) else { return "not started" }
        if s.time == .distantPast { return "not started (list the folder to search)" }
        return s.running ? "running: \(s.files.count) results so far" : "done: \(s.files.count) results"
    }

    public func xattrs(_ n: FSNode) -> [String: [UInt8]] {
        n.directory?.xattrs(self) ?? n.file?.xattrs(self) ?? [:]
    }
}
