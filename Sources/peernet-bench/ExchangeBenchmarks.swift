import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetFS
import PeernetNode
import PeernetProtocol
import PeernetStore
import PeernetSupport
import Synchronization

/// A peer for the network benchmarks: the runtime (store, node on 127.0.0.1, exchange,
/// search, downloader, publisher) from the composition root.
final class BenchPeer: @unchecked Sendable {
    let dir: URL
    let runtime: PeernetRuntime
    var store: LocalStore { runtime.store }
    var node: Node { runtime.node }
    var exchange: BlockExchange { runtime.exchange }
    var search: NetworkSearch { runtime.search }

    init(root: BenchPeer?, autoSync: Bool, cacheLimits: CacheLimits = CacheLimits()) throws {
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pn-bench-\(UUID().uuidString.prefix(8))")
        let key = PrivateKey()
        let store = try LocalStore(dataDirectory: DataDirectory(url: dir), key: key, cacheLimits: cacheLimits)
        var config = NodeConfig(listen: [Endpoint("127.0.0.1:0")!])
        if let root { config.rootPeers = [RootPeer(publicKey: root.node.publicKey, addresses: root.node.listenEndpoints)] }
        config.timings.pingInterval = 8
        config.timings.invalidateAfter = 30
        config.timings.lookupRoundTimeout = 2
        config.timings.lookupTimeout = 10
        config.timings.tick = 0.5
        config.workers = 1
        var options = PeernetRuntime.Options()
        options.autoSync = autoSync
        options.recordLifetime = 3600
        options.replication = 6
        runtime = try PeernetRuntime(store: store, node: try Node(key: key, config: config), options: options)
        runtime.start()
    }

    func stop() async {
        await runtime.stop()
        try? FileManager.default.removeItem(at: dir)
    }

    /// Mounts the drive at `<dir>/mnt` with its FUSE loop on a thread; returns the mount point
    /// and what unmounts it (nil, said on stderr, when it cannot mount).
    func mountDrive(group: String, passthrough: Bool? = nil) -> (path: String, unmount: () -> Void)? {
        mountDriveReturningMount(group: group, passthrough: passthrough).map { ($0.path, $0.unmount) }
    }

    func mountDriveReturningMount(group: String, passthrough: Bool? = nil, shareView: FuseMount.ShareView = .fuse) -> (path: String, unmount: () -> Void, mount: FuseMount)? {
        let mountpoint = dir.appendingPathComponent("mnt").path
        try? FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        guard let fs = try? PeernetFileSystem(runtime: runtime, readTimeout: 60) else { return nil }
        let mount = FuseMount(fs: fs, mountpoint: mountpoint, passthrough: passthrough, shareView: shareView)
        do { try mount.mount() } catch {
            FileHandle.standardError.write(Data("\(group): cannot mount: \(error)\n".utf8))
            return nil
        }
        let loop = Thread { mount.run() }
        loop.start()
        return (mountpoint, { mount.stop(); usleep(300_000) }, mount)
    }
}

enum ExchangeBenchmarks {
    static func run(into table: BenchTable) {
        for row in runBlocking({ await measure() }) { table.add(row) }
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    static func measure() async -> [BenchRow] {
        var out: [BenchRow] = []
        // Chain sync of a 10,000-file chain between two nodes.
        var limits = CacheLimits()
        limits.maxBlocksPerPeer = 2000
        if let a = try? BenchPeer(root: nil, autoSync: false), let b = try? BenchPeer(root: a, autoSync: false, cacheLimits: limits) {
            var files: [FileRecord] = []
            for i in 0..<10_000 {
                let name = "Track \(i) - Some Artist.flac"
                let h = Hash256.blake3(Array(name.utf8))
                files.append(FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: 4, format: 6, size: UInt64(i),
                                        tags: [FileTag(type: FileTag.name, text: name), FileTag(type: FileTag.folder, text: "Music/Album \(i / 12)")]))
            }
            try? a.store.chain.addFiles(files)
            a.exchange.publishChainState()
            let deadline = Date().addingTimeInterval(10)
            while !b.node.isConnected(a.node.publicKey) && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            try? await Task.sleep(for: .milliseconds(300))
            if ProcessInfo.processInfo.environment["PEERNET_BENCH_EXCHANGE_ONLY"] == "sync" {
                // The fetch alone, for the profile (the same blocks, not stored).
                let t0 = Date()
                let items = try? await b.exchange.fetchBlocks(owner: a.node.publicKey, from: a.node.publicKey,
                                                              ranges: [BlockRange(offset: 0, count: a.store.chain.height)],
                                                              limit: a.store.chain.height, maxBlockSize: 65_536)
                FileHandle.standardError.write(Data("fetch alone: \(items?.count ?? -1) blocks in \(Date().timeIntervalSince(t0)) s\n".utf8))
            }
            let start = Date()
            let stored = await b.exchange.sync(peer: a.node.publicKey, height: a.store.chain.height, version: a.store.chain.version)
            let seconds = Date().timeIntervalSince(start)
            let count = (try? b.store.catalog.count(owner: a.node.publicKey)) ?? 0
            out.append(BenchRow(group: "exchange", name: "chain sync, 10,000 files (\(stored) blocks, \(count) files cached)", value: seconds,
                                unit: "s"))
            await a.stop()
            await b.stop()
        }

        // PEERNET_BENCH_EXCHANGE_ONLY=sync stops here (for profiling the sync alone).
        if ProcessInfo.processInfo.environment["PEERNET_BENCH_EXCHANGE_ONLY"] == "sync" { return out }

        // Search latency in a 100-node loopback network (every search goes through the DHT).
        var peers: [BenchPeer] = []
        guard let root = try? BenchPeer(root: nil, autoSync: false) else { return out }
        peers.append(root)
        for _ in 1..<100 { if let p = try? BenchPeer(root: root, autoSync: false) { peers.append(p) } }
        let settle = Date().addingTimeInterval(90)
        while Date() < settle && !peers.allSatisfy({ $0.node.routingTableSize >= 10 }) { try? await Task.sleep(for: .milliseconds(200)) }
        var targets: [(BenchPeer, String)] = []
        for i in 0..<10 {
            let sharer = peers[(i * 9 + 5) % peers.count]
            let word = "Benchword\(i)"
            let name = "\(word)Holiday\(i).mkv"
            guard let imported = try? sharer.store.warehouse.importData(Array(name.utf8)) else { continue }
            let f = FileRecord(hash: imported.hash, id: .random(), merkleRoot: imported.merkle.root, fragmentSize: imported.merkle.fragmentSize,
                               type: 3, format: 7, size: imported.size, tags: [FileTag(type: FileTag.name, text: name)])
            try? sharer.store.chain.addFiles([f])
            sharer.exchange.publishChainState()
            await sharer.search.publish([f])
            targets.append((sharer, word.lowercased()))
        }
        // Each target is searched from searchers that have never fetched its chain, once with
        // the streaming search and once as before streaming (all replies awaited first), in
        // alternation: a same-run comparison.
        let sharers = Set(targets.map { ObjectIdentifier($0.0) })
        let searchers = peers.filter { !sharers.contains(ObjectIdentifier($0)) }
        var first: [Bool: [Double]] = [:], complete: [Bool: [Double]] = [:], found: [Bool: Int] = [:]
        var k = 0
        for (_, word) in targets {
            for _ in 0..<2 {
                for waiting in [false, true] {
                    let searcher = searchers[(k * 7) % searchers.count]
                    k += 1
                    searcher.search.waitsForAllReplies.store(waiting, ordering: .relaxed)
                    let start = Date()
                    let firstAt = Mutex<Double?>(nil)
                    let results = await searcher.search.search(word, timeout: 10) { _ in
                        firstAt.withLock { if $0 == nil { $0 = Date().timeIntervalSince(start) } }
                    }
                    complete[waiting, default: []].append(Date().timeIntervalSince(start))
                    if !results.isEmpty { found[waiting, default: 0] += 1 }
                    if let f = firstAt.withLock({ $0 }) { first[waiting, default: []].append(f) }
                }
            }
        }
        let searches = targets.count * 2
        func row(_ name: String, _ values: [Bool: [Double]], _ p: Double) -> BenchRow {
            BenchRow(group: "exchange", name: "network search, 100 nodes: \(name)", value: percentile(values[false] ?? [], p) * 1000, unit: "ms",
                     baselineName: "waiting for all replies first (before)", baselineValue: percentile(values[true] ?? [], p) * 1000)
        }
        out.append(row("first result, median", first, 0.5))
        out.append(row("first result, p99", first, 0.99))
        out.append(row("all results, median", complete, 0.5))
        out.append(row("all results, p99", complete, 0.99))
        out.append(BenchRow(group: "exchange", name: "network search, 100 nodes: searches that found the file",
                            value: 100 * Double(found[false] ?? 0) / Double(max(1, searches)), unit: "%",
                            baselineName: "waiting for all replies first", baselineValue: 100 * Double(found[true] ?? 0) / Double(max(1, searches))))
        for p in peers { await p.stop() }
        return out
    }
}
