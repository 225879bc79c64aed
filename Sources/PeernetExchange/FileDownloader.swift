import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetNode
import PeernetProtocol
import PeernetStore
import Synchronization

/// What to download: the fields of a file record.
public struct DownloadTarget: Sendable, Equatable {
    public var hash: Hash256
    public var size: UInt64
    public var merkleRoot: Hash256
    public var fragmentSize: UInt64
    /// The file's owner, asked first.
    public var owner: PublicKey?
    /// Only the content hash is known (no file record): the whole file is fetched and checked
    /// against the hash at the end.
    public var rootUnknown = false

    public init(hash: Hash256, size: UInt64, merkleRoot: Hash256, fragmentSize: UInt64, owner: PublicKey?) {
        self.hash = hash
        self.size = size
        self.merkleRoot = merkleRoot
        self.fragmentSize = fragmentSize
        self.owner = owner
    }

    public init(_ file: FileRecord, owner: PublicKey?) {
        self.init(hash: file.hash, size: file.size, merkleRoot: file.merkleRoot, fragmentSize: file.fragmentSize, owner: owner)
    }
}

public enum DownloadFailure: Error, Equatable, CustomStringConvertible {
    case noHolders
    case allHoldersFailed([String])
    case invalidTarget(String)
    /// The file left the download cache while it was being fetched (evicted or removed).
    case removed

    public var description: String {
        switch self {
        case .noHolders: return "no peer holding this file could be found or reached; try again later"
        case .allHoldersFailed(let reasons): return "every holder failed: " + reasons.joined(separator: "; ")
        case .invalidTarget(let why): return "cannot download: \(why)"
        case .removed: return "the file was removed from the download cache while it was being fetched; start again"
        }
    }
}

/// Verified downloads (transfer.md §5, done right): holders are the owner, the peers whose
/// provider records the DHT returns, and peers whose cached chains list the same content. Data
/// is fetched in fragment-aligned ranges and every fragment is checked against the Merkle root
/// before it is stored or read; a holder that sends a bad fragment is dropped for the rest of
/// the download and the fragment comes from another one. State lives in the download cache,
/// so an interrupted download resumes. A complete download is announced as provided.
public final class FileDownloader: Sendable {
    public let exchange: BlockExchange
    public let search: NetworkSearch?
    var node: Node { exchange.node }
    var cache: DownloadCache { exchange.store.downloads }
    /// Holders that sent corrupt data, by content hash (not trusted again for that content).
    let liars = Mutex<[Hash256: Set<PublicKey>]>([:])

    /// nil: the encrypted fast path with holders of our kind, compatible mode with others;
    /// false: compatible mode always (benchmarks, tests).
    public let fastPath: Bool?

    /// How far ahead of a sequential reader fragments are fetched (in flight at once).
    public let readAhead: UInt64

    /// Fetches in flight for readers, by content hash and fragment: concurrent readers of one
    /// file share them instead of asking the holders twice.
    let inflight = Mutex<[Hash256: [Int: UInt64]]>([:])  // fetch id per fragment
    let nextFetch = Atomic<UInt64>(1)
    /// Calls of `target(forHash:)` (tests: the drive resolves content once per open file).
    let targetLookups = Atomic<Int>(0)
    /// Where each file's last read ended, for readers without a `ReadCursor` of their own.
    let readCursor = Mutex<[Hash256: UInt64]>([:])
    /// Fragments verified and written but not yet marked in the cache (marks are batched behind
    /// an fdatasync): readers waiting on a fetch in flight may read them already.
    let ready = Mutex<[Hash256: Uncommitted]>([:])

    struct Uncommitted {
        var ready: Set<Int> = []
        /// Those of them handed to a reader that drops what it has read (the drive: its reply
        /// copies them into the kernel's cache of the remote file). Their commit drops their
        /// pages, as `readSoon: false` does for all. A subset of `ready`, so it leaves with it.
        var handed: Set<Int> = []
    }
    /// Wakes readers when fragments become ready or fetches end.
    let progressSignal = ProgressSignal()
    /// Counts commits (fragments moved from `ready` to the cache's verified marks): a waiting
    /// reader reads the cache again only when this moved, not at every fragment it is woken for.
    let commits = Atomic<Int>(0)
    /// Where the commits of a fetch run, off the receive path.
    let commitQueue = CommitQueue()
    /// When each file was last marked used in the cache (at most once a minute per file).
    let touched = Mutex<[Hash256: Date]>([:])
    /// Recent downloads, for `.peernet/transfers`.
    let activity = DownloadActivityLog()
    /// Holders found recently, by content hash (a DHT lookup per read would be wasteful).
    let recentHolders = Mutex<[Hash256: (time: Date, holders: [PublicKey])]>([:])

    public init(exchange: BlockExchange, search: NetworkSearch?, fastPath: Bool? = nil, readAhead: UInt64 = 128 << 20) {
        self.exchange = exchange
        self.search = search
        self.fastPath = fastPath
        self.readAhead = readAhead
    }

    /// `holders(for:)`, remembered for 20 seconds (reads and read-ahead of one file would
    /// otherwise each search the DHT); holders caught lying since are left out.
    func cachedHolders(for target: DownloadTarget) async -> [PublicKey] {
        let now = Date()
        if let recent = recentHolders.withLock({ $0[target.hash] }), now.timeIntervalSince(recent.time) < 20, !recent.holders.isEmpty {
            let bad = liars.withLock { $0[target.hash] ?? [] }
            let usable = recent.holders.filter { !bad.contains($0) && node.isConnected($0) }
            if !usable.isEmpty { return usable }
        }
        let found = await holders(for: target)
        recentHolders.withLock { r in
            if r.count > 256 { r = r.filter { now.timeIntervalSince($0.value.time) < 20 } }
            r[target.hash] = (now, found)
        }
        return found
    }

    /// Peers known to hold `target` that are (or could be made) connected, owner first.
    func holders(for target: DownloadTarget) async -> [PublicKey] {
        var candidates: [PublicKey] = []
        if let owner = target.owner { candidates.append(owner) }
        if let search { candidates += await search.findProviders(target.hash).map(\.owner) }
        candidates += ((try? exchange.store.catalog.files(withHash: target.hash)) ?? []).map(\.owner)
        var seen = Set<PublicKey>([node.publicKey])
        let bad = liars.withLock { $0[target.hash] ?? [] }
        var out: [PublicKey] = []
        for c in candidates where seen.insert(c).inserted && !bad.contains(c) {
            if !node.isConnected(c) { _ = await node.findPeer(Hash256.nodeID(of: c)) }
            if node.isConnected(c) { out.append(c) }
        }
        return out
    }

    /// Downloads `range` (default: the whole file) into the cache, verified.
    ///
    /// `readSoon: false` says nothing will read the content from the cache soon (`peernet get`
    /// moves the finished file out): the written pages then leave the page cache once they are
    /// durable, so a download keeps reusing the same few MiB of memory instead of taking a new
    /// page for every 4 KiB. On a VM whose host takes free memory back (virtio-balloon free page
    /// reporting, as on this project's test machines) every new page costs a host fault inside
    /// the copy: a 1 GiB `get` between two daemons ran at 163-179 MB/s into such memory and at
    /// 301-386 MB/s into memory just freed. Elsewhere it keeps a large download from pushing
    /// everything else out of the page cache. Readers (the drive, the web API's export) keep the
    /// pages: they read them right away.
    public func download(_ target: DownloadTarget, range: Range<UInt64>? = nil, readSoon: Bool = true,
                         progress: (@Sendable (UInt64, UInt64) -> Void)? = nil) async throws {
        try validate(target)
        let entry = try cache.prepare(hash: target.hash, size: target.size, fragmentSize: target.fragmentSize, merkleRoot: target.merkleRoot)
        let wanted = fragments(of: entry, range: range)
        if wanted.isEmpty { progress?(entry.verifiedBytes, target.size); return }
        try await run(target, wanted: wanted, readSoon: readSoon, progress: progress)
        evictIfNeeded(target.hash)
        if (try? cache.entry(target.hash, includeTree: false))?.isComplete == true, let search {
            Task { await search.announceProviders([(hash: target.hash, size: target.size)]) }
        }
    }

    /// Downloads the whole file into `output`, as `peernet get` does. A new download moves
    /// out of the cache into the output (no copy, and nothing reads it from the cache
    /// meanwhile: `readSoon` is false); content the cache held complete before stays there
    /// (the drive may be reading it) and is copied, as is a download to another file system.
    public func download(_ target: DownloadTarget, to output: String,
                         progress: (@Sendable (UInt64, UInt64) -> Void)? = nil) async throws {
        let held = (try? cache.entry(target.hash, includeTree: false))?.isComplete == true
        try await download(target, readSoon: held, progress: progress)
        let moved = try !held && cache.moveOut(target.hash, size: target.size, to: output)
        if !moved { try cache.export(target.hash, size: target.size, to: output) }
    }

    func fragments(of entry: DownloadCache.Entry, range: Range<UInt64>?) -> [Int] {
        guard entry.size > 0 else { return [] }
        let r = range ?? 0..<entry.size
        guard r.lowerBound < entry.size, !r.isEmpty else { return [] }
        let first = Int(r.lowerBound / entry.fragmentSize), last = Int((min(r.upperBound, entry.size) - 1) / entry.fragmentSize)
        return (first...last).filter { !entry.verified[$0] }
    }

    private func run(_ target: DownloadTarget, wanted: [Int], readSoon: Bool = true,
                     progress: (@Sendable (UInt64, UInt64) -> Void)?) async throws {
        let holders = await cachedHolders(for: target)
        guard !holders.isEmpty else { throw DownloadFailure.noHolders }
        activity.began(target.hash, size: target.size, holders: holders.count,
                       verified: (try? cache.entry(target.hash, includeTree: false))?.verifiedBytes ?? 0)
        do {
            try await fetch(target, wanted: wanted, from: holders, readSoon: readSoon, progress: progress)
            activity.ended(target.hash, failure: nil)
        } catch {
            activity.ended(target.hash, failure: error is CancellationError ? nil : "\(error)")
            throw error
        }
    }

    private func fetch(_ target: DownloadTarget, wanted: [Int], from holders: [PublicKey], readSoon: Bool = true,
                       progress: (@Sendable (UInt64, UInt64) -> Void)?) async throws {
        let count = Int(max(1, MerkleTree.fragmentCount(fileSize: target.size, fragmentSize: target.fragmentSize)))
        var tree: MerkleTree? = count < 2 ? MerkleTree(fileSize: target.size, fragmentSize: target.fragmentSize, fragmentHashes: [], fileHash: target.hash)
                                          : (try? cache.entry(target.hash))?.tree
        if tree == nil && !target.rootUnknown {
            for h in holders {
                if let t = await exchange.fetchTree(target.hash, root: target.merkleRoot, size: target.size, from: h) {
                    tree = t
                    try? cache.setTree(target.hash, t)
                    break
                }
            }
        }
        var failures: [String] = []
        let wantedSet = Set(wanted)
        for holder in holders {
            guard let current = try cache.entry(target.hash, includeTree: false) else { throw DownloadFailure.removed }
            let needed = fragments(of: current, range: nil).filter { wantedSet.contains($0) }
            if needed.isEmpty { return }
            do {
                if let tree {
                    try await fetchVerified(target, tree: tree, fragments: needed, from: holder, readSoon: readSoon, progress: progress)
                } else {
                    try await fetchWhole(target, from: holder, progress: progress)
                }
            } catch let e as LiarError {
                liars.withLock { _ = $0[target.hash, default: []].insert(holder) }
                failures.append("\(holder.hexString.prefix(12))… sent a corrupt fragment \(e.fragment)")
            } catch {
                failures.append("\(holder.hexString.prefix(12))…: \(error)")
            }
        }
        guard let last = try cache.entry(target.hash, includeTree: false) else { throw DownloadFailure.removed }
        let left = fragments(of: last, range: nil).filter { wantedSet.contains($0) }
        if !left.isEmpty {
            // Holders that all failed are not remembered: the next try looks again (a holder
            // that found its own copy damaged stops offering it, and others may have it).
            recentHolders.withLock { $0[target.hash] = nil }
            throw DownloadFailure.allHoldersFailed(failures)
        }
    }

    struct LiarError: Error { let fragment: Int }

    /// Fetches runs of missing fragments from one holder, verifying each as it completes.
    private func fetchVerified(_ target: DownloadTarget, tree: MerkleTree, fragments: [Int], from holder: PublicKey,
                               readSoon: Bool, progress: (@Sendable (UInt64, UInt64) -> Void)?) async throws {
        let runs = DownloadCache.runs(fragments)
        let fs = target.fragmentSize
        let cache = self.cache
        for run in runs {
            let offset = UInt64(run.lowerBound) * fs
            let end = min(target.size, UInt64(run.upperBound + 1) * fs)
            struct Cursor { var index: Int; var buffer: [UInt8] = []; var liar: Int?; var uncommitted: [Int] = []; var done: UInt64 }
            let already = (try? cache.entry(target.hash, includeTree: false))?.verifiedBytes ?? 0
            let cursor = Mutex(Cursor(index: run.lowerBound, done: already))
            do {
                _ = try await exchange.streamRange(hash: target.hash, from: holder, offset: offset, limit: end - offset,
                                                   fastPath: fastPath) { bytes in
                    cursor.withLock { c in
                        // One copy per byte: into the fragment being assembled, which is
                        // verified and written in place and then emptied, keeping its storage.
                        var rest = bytes[...]
                        while c.index <= run.upperBound {
                            let length = Int(min(fs, target.size - UInt64(c.index) * fs))
                            if c.buffer.capacity < length { c.buffer.reserveCapacity(length) }
                            let take = min(length - c.buffer.count, rest.count)
                            c.buffer.append(contentsOf: rest.prefix(take))
                            rest = rest.dropFirst(take)
                            guard c.buffer.count == length else { break }
                            guard tree.verify(fragment: c.index, data: c.buffer) else { c.liar = c.index; return false }
                            guard (try? cache.writeFragment(target.hash, index: c.index, fragmentSize: fs, data: c.buffer)) != nil else { return false }
                            c.buffer.removeAll(keepingCapacity: true)
                            c.uncommitted.append(c.index)
                            self.ready.withLock { _ = $0[target.hash, default: Uncommitted()].ready.insert(c.index) }
                            self.progressSignal.signal(target.hash)
                            if c.uncommitted.count >= 16 {
                                let batch = c.uncommitted
                                c.uncommitted = []
                                self.commitQueue.submit { self.commit(target.hash, batch, dropPages: !readSoon) }
                            }
                            c.done += UInt64(length)
                            progress?(c.done, target.size)
                            c.index += 1
                        }
                        return true
                    }
                }
            } catch {
                await commitQueue.drain()
                commit(target.hash, cursor.withLock { $0.uncommitted }, dropPages: !readSoon)
                // An abandoned stream is ours: because of a corrupt fragment.
                if let bad = cursor.withLock({ $0.liar }) { throw LiarError(fragment: bad) }
                throw error
            }
            await commitQueue.drain()
            commit(target.hash, cursor.withLock { $0.uncommitted }, dropPages: !readSoon)
            if let bad = cursor.withLock({ $0.liar }) { throw LiarError(fragment: bad) }
        }
    }

    /// Keeps the download cache within its size (CacheSize): least recently used files go,
    /// never `current` or a file with fetches in flight.
    func evictIfNeeded(_ current: Hash256) {
        let busy = inflight.withLock { Set($0.keys) }
        try? cache.evict(keep: busy.union([current]))
    }

    /// Marks written fragments verified in the cache (durably) and drops them from `ready`;
    /// `dropPages`: see `download(_:range:readSoon:progress:)`.
    func commit(_ hash: Hash256, _ indices: [Int], dropPages: Bool = false) {
        guard !indices.isEmpty else { return }
        try? cache.commitVerified(hash, indices: indices, dropPages: dropPages)
        // After the marks are stored and before the fragments leave `ready`: a reader that
        // misses a fragment in `ready` sees this count moved and reads the marks again.
        commits.add(1, ordering: .sequentiallyConsistent)
        let read = ready.withLock { r -> Set<Int> in
            guard var u = r[hash] else { return [] }
            let read = u.handed.intersection(indices)
            u.ready.subtract(indices)
            u.handed.subtract(indices)
            r[hash] = u.ready.isEmpty ? nil : u
            return read
        }
        // Synced above, so clean: dropped now. A reader handed one of them after it left
        // `ready` drops it itself after its reply (it is clean by then).
        if !dropPages && !read.isEmpty { cache.dropPages(hash, fragments: Array(read)) }
        progressSignal.signal(hash)  // a reader that just missed them in `ready` looks again
    }

    /// A holder without a tree to give (a reference node): the whole file, verified at the end
    /// by recomputing the Merkle root.
    private func fetchWhole(_ target: DownloadTarget, from holder: PublicKey, progress: (@Sendable (UInt64, UInt64) -> Void)?) async throws {
        let leaves = Mutex(MerkleLeafHasher(fragmentSize: target.fragmentSize))
        let whole = Mutex(BLAKE3())
        let offset = Mutex<UInt64>(0)
        let cache = self.cache
        _ = try await exchange.streamRange(hash: target.hash, from: holder, offset: 0, limit: 0, fastPath: fastPath) { bytes in
            bytes.withUnsafeBytes { raw in
                leaves.withLock { $0.update(raw) }
                whole.withLock { $0.update(raw) }
            }
            let at = offset.withLock { o in defer { o += UInt64(bytes.count) }; return o }
            try? cache.storeUnverified(target.hash, offset: at, data: bytes)
            progress?(at + UInt64(bytes.count), target.size)
            return true
        }
        let hash = Hash256(whole.withLock { $0.finalize() })!
        let tree = MerkleTree(fileSize: target.size, fragmentSize: target.fragmentSize, fragmentHashes: leaves.withLock { $0.finish() }, fileHash: hash)
        guard hash == target.hash, target.rootUnknown || tree.root == target.merkleRoot else { throw LiarError(fragment: -1) }
        try cache.setTree(target.hash, tree)
        try cache.markAllVerified(target.hash)
    }

    /// A target for a bare content hash: size from provider records, root unknown.
    public func target(forHash hash: Hash256) async -> DownloadTarget? {
        targetLookups.add(1, ordering: .relaxed)
        if let entry = try? exchange.store.catalog.files(withHash: hash).first {
            return DownloadTarget(entry.file, owner: entry.owner)
        }
        guard let search, let record = await search.findProviders(hash).first else { return nil }
        var t = DownloadTarget(hash: hash, size: record.fileSize, merkleRoot: hash,
                               fragmentSize: MerkleTree.fragmentSize(forFileSize: record.fileSize), owner: record.owner)
        t.rootUnknown = true
        return t
    }

    /// Reads a verified range for a file-system reader: what is missing is fetched first (shared
    /// with other readers of the same fragments), and a sequential reader gets read-ahead, so the
    /// next reads find their fragments in the cache or already on the way.
    public func read(_ target: DownloadTarget, offset: UInt64, length: Int) async throws -> [UInt8] {
        guard let region = try await readRegion(target, offset: offset, length: length) else { return [] }
        return try cache.readUnchecked(target.hash, offset: region.offset, length: region.length)
    }

    /// Like `read`, but instead of the bytes returns where they lie, verified, in the download
    /// cache (nil past the end): the file system hands the file region to the kernel directly.
    /// `cursor`: the reader's own (a handle per open file keeps one); without it, reads of one
    /// file share the file's.
    ///
    /// `dropBehind`: the reader copies the region at once and keeps its own copy (the drive's
    /// reply fills the kernel's cache of the remote file), so the region's pages in the download
    /// cache are a second copy: fragments handed to it before their commit leave the page cache
    /// at their commit; when none was (all were committed, so clean), `dropAfterRead` says the
    /// reader drops the region itself once it has read it. A 1 GiB read through the drive then
    /// leaves ~0 instead of 1 GiB of the cache file in memory.
    public func readRegion(_ target: DownloadTarget, offset: UInt64, length: Int,
                           cursor: ReadCursor? = nil, dropBehind: Bool = false)
        async throws -> (path: String, offset: UInt64, length: Int, dropAfterRead: Bool)? {
        let end = min(target.size, offset + UInt64(length))
        guard offset < end else { return nil }
        let region = (path: cache.path(target.hash), offset: offset, length: Int(end - offset), dropAfterRead: dropBehind)
        try validate(target)
        let entry = try cache.prepare(hash: target.hash, size: target.size, fragmentSize: target.fragmentSize, merkleRoot: target.merkleRoot)
        // Sequential: see ReadCursor.
        let sequential: Bool
        if let cursor {
            sequential = cursor.last.withLock { ReadCursor.step(&$0, offset: offset, end: end) }
        } else {
            sequential = readCursor.withLock { c in
                if c.count > 1024 && c[target.hash] == nil { c = [:] }
                var last = c[target.hash]
                defer { c[target.hash] = last }
                return ReadCursor.step(&last, offset: offset, end: end)
            }
        }
        let needed = fragments(of: entry, range: offset..<end)
        let now = Date()
        if touched.withLock({ t in
            guard now.timeIntervalSince(t[target.hash] ?? .distantPast) > 60 else { return false }
            if t.count > 1024 { t = [:] }
            t[target.hash] = now
            return true
        }) { cache.touch(target.hash) }
        if !needed.isEmpty || sequential {
            // Without a tree, a holder can only send the whole file: one fetch serves everyone.
            let whole = !entry.hasTree && entry.fragmentCount >= 2 && target.rootUnknown
            var wanted = whole ? fragments(of: entry, range: nil) : needed
            if sequential && end < target.size && !whole {
                // Read-ahead joins the same run as the read (one stream, not a small transfer
                // and then a large one). The next batch (the rest of the window) starts when
                // the stream in flight is nearly done (1/64 of the window left, 2 MiB by
                // default: about the time a new stream takes to start): one stream at a time,
                // because two UDT flows from one holder overflow each other's socket buffers.
                // (Measured on 1 GiB reads: starting at 1/8 left cost ~1,000 receive-buffer
                // drops per GiB; at 1/64, 0-25.)
                let windowEnd = min(target.size, end + readAhead)
                // From the fragment after the read's last: a read ending inside a fragment
                // would otherwise list it twice and start two overlapping transfers.
                let ahead = fragments(of: entry, range: end..<windowEnd).filter { $0 > (wanted.last ?? -1) }
                let idle = inflight.withLock { m in ahead.filter { m[target.hash]?[$0] == nil } }
                let windowFragments = max(1, Int(readAhead / max(1, target.fragmentSize)))
                // And only once half the window (what is left of it before the end of the file)
                // is missing, or the read itself waits: a stream that had ended was topped up
                // by the one fragment each read uncovered, one small transfer per read (32
                // reads of 256 KiB, by two readers with 4 MiB windows, took 29 transfers; now 6).
                let fragmentSize = max(1, target.fragmentSize)
                // No overflow: validate() bounds the size (2^50) and the fragment size, and
                // windowEnd > end here.
                let inWindow = Int((windowEnd - end + fragmentSize - 1) / fragmentSize)
                let worthABatch = !needed.isEmpty || idle.count >= max(1, min(windowFragments, inWindow) / 2)
                if !idle.isEmpty && ahead.count - idle.count <= max(1, windowFragments / 64) && worthABatch { wanted += idle }
            }
            startFetches(target, wanted)
        }
        if needed.isEmpty { return region }
        // Wait for the fragments, not for whole fetches: a long read-ahead run streams, and each
        // fragment is readable as soon as it is verified and written. The cache's marks are read
        // again only after a commit (one per 16 fragments), not at every wake-up.
        var pending: [Int] = []
        var commitsSeen: Int?
        while true {
            let seen = progressSignal.generation(target.hash)
            let commitCount = commits.load(ordering: .sequentiallyConsistent)
            if commitCount != commitsSeen {
                guard let latest = try cache.entry(target.hash, includeTree: false) else { break }
                pending = fragments(of: latest, range: offset..<end)
                commitsSeen = commitCount
            }
            var handed = false
            pending = ready.withLock { r in
                let left = pending.filter { !(r[target.hash]?.ready.contains($0) ?? false) }
                if left.isEmpty && dropBehind, var u = r[target.hash] {
                    // In the same lock as the commit takes them: none is left behind.
                    let fs = max(1, target.fragmentSize)
                    for i in Int(offset / fs)...Int((end - 1) / fs) where u.ready.contains(i) {
                        u.handed.insert(i)
                        handed = true  // left to its commit: the region is not clean yet
                    }
                    r[target.hash] = u
                }
                return left
            }
            if pending.isEmpty { return handed ? (region.path, region.offset, region.length, false) : region }
            let covered = inflight.withLock { m in pending.allSatisfy { m[target.hash]?[$0] != nil } }
            if !covered { break }
            await progressSignal.wait(target.hash, seen: seen)
            try Task.checkCancellation()
        }
        // A shared fetch ended without some of them: fetch them here, surfacing its error.
        let left = fragments(of: try cache.entry(target.hash, includeTree: false) ?? entry, range: offset..<end)
        if !left.isEmpty { try await run(target, wanted: left, progress: nil) }
        guard fragments(of: try cache.entry(target.hash, includeTree: false) ?? entry, range: offset..<end).isEmpty else {
            throw DownloadFailure.allHoldersFailed(["the range could not be completed"])
        }
        return region
    }

    /// Larger than any disk; a file record claiming more (sizes come from peers' chains) would
    /// make the download's fragment bitmap billions of entries long.
    static let maxFileSize: UInt64 = 1 << 50

    func validate(_ target: DownloadTarget) throws {
        guard target.size <= Self.maxFileSize else { throw DownloadFailure.invalidTarget("\(target.size) bytes is more than any disk holds") }
        guard target.fragmentSize > 0 || target.size == 0 else { throw DownloadFailure.invalidTarget("fragment size 0") }
        guard target.fragmentSize == MerkleTree.fragmentSize(forFileSize: target.size) else {
            throw DownloadFailure.invalidTarget("fragment size \(target.fragmentSize) does not fit \(target.size) bytes")
        }
    }

    /// Starts fetches for the fragments not already in flight: one transfer per run of up to
    /// 256 MiB. Readers wait for their fragments (`progressSignal`), not for a run.
    func startFetches(_ target: DownloadTarget, _ fragments: [Int]) {
        guard !fragments.isEmpty else { return }
        let perRun = max(1, Int((256 << 20) / max(1, target.fragmentSize)))
        inflight.withLock { m in
            var runs: [[Int]] = []
            for f in fragments where m[target.hash]?[f] == nil {
                if let last = runs.last?.last, last + 1 == f, runs[runs.count - 1].count < perRun { runs[runs.count - 1].append(f) } else { runs.append([f]) }
            }
            for run in runs {
                let id = nextFetch.wrappingAdd(1, ordering: .relaxed).oldValue
                for f in run { m[target.hash, default: [:]][f] = id }
                Task { [self] in
                    defer {
                        inflight.withLock { m in
                            for f in run where m[target.hash]?[f] == id { m[target.hash]![f] = nil }
                            if m[target.hash]?.isEmpty == true { m[target.hash] = nil }
                        }
                        progressSignal.signal(target.hash)
                    }
                    try await self.run(target, wanted: run, progress: nil)
                    self.evictIfNeeded(target.hash)
                }
            }
        }
    }
}
