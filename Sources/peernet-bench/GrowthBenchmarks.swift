import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetNode
import PeernetProtocol
import PeernetStore
import PeernetSupport
import Synchronization

/// `growth`: how cost grows with size (issue 18, item 6). Each series is measured at three
/// sizes spanning 100x; a last row per series gives the observed growth exponent k (cost ~
/// size^k between the two largest sizes) next to the exponent expected: constant 0,
/// logarithmic ~0.1, linear 1. A series that grows clearly faster than
/// expected is flagged with "FASTER THAN EXPECTED" in its name.
/// PEERNET_BENCH_GROWTH=small runs each series at a tenth of its sizes (a quick look).
enum GrowthBenchmarks {
    enum Expected: String {
        case constant, logarithmic, linear
        /// The exponent the growth shows over a 100x range of sizes.
        var exponent: Double {
            switch self {
            case .constant: return 0
            case .logarithmic: return log(log2(100_000.0) / log2(10_000.0)) / log(10)   // ~0.1
            case .linear: return 1
            }
        }
    }

    static var scale: Int { ProcessInfo.processInfo.environment["PEERNET_BENCH_GROWTH"] == "small" ? 10 : 1 }

    static func run(into table: BenchTable) {
        let s = scale
        series(table, "chain sync", sizes: [1000, 10_000, 100_000].map { $0 / s }, unit: "s", label: "files",
               expected: .linear) { n in runBlocking { await chainSync(files: n).seconds } }
        series(table, "RSS growth of the syncing node during chain sync", sizes: [1000, 10_000, 100_000].map { $0 / s }, unit: "MB",
               label: "files", expected: .constant, note: "the chain is on disk; SQLite's cache is 32 MiB") { n in
            runBlocking { await chainSync(files: n).rssMB }
        }
        // Both search series are measured at each size before the index grows to the next one
        // (measuring one series at all sizes first left the other at the largest index only).
        let index = SearchIndexFixture()
        let searchSizes = [10_000, 100_000, 1_000_000].map { $0 / s }
        var exact: [Int: Double] = [:], common: [Int: Double] = [:]
        for n in searchSizes {
            exact[n] = index.exactSearch(files: n) * 1e6
            common[n] = index.commonSearch(files: n) * 1e3
        }
        index.close()
        series(table, "search, exact name (1 hit)", sizes: searchSizes, unit: "µs",
               label: "indexed files", expected: .logarithmic) { exact[$0] ?? .nan }
        series(table, "search, 1 common word (10% of files match), first 100", sizes: searchSizes, unit: "ms",
               label: "indexed files", expected: .linear, note: "every match is ranked before the first 100") { common[$0] ?? .nan }
        series(table, "RSS of known peers with their cached chains (20 files each)", sizes: [100, 1000, 10_000].map { max(10, $0 / s) },
               unit: "MB", label: "peers", expected: .linear) { n in runBlocking { await knownPeers(n) } }
        series(table, "DHT lookup hops, median", sizes: [1000, 10_000, 100_000].map { $0 / s }, unit: "hops", label: "simulated nodes",
               expected: .logarithmic) { n in runBlocking { await lookupHops(nodes: n) } }
        series(table, "ls -l of a peer folder (warm)", sizes: [1000, 10_000, 100_000].map { $0 / s }, unit: "ms", label: "files",
               expected: .linear) { n in runBlocking { await listing(files: n) } ?? .nan }
    }

    /// Measures `cost` at each size, adds a row per size and the growth row.
    static func series(_ table: BenchTable, _ name: String, sizes: [Int], unit: String, label: String, expected: Expected,
                       note: String? = nil, cost: (Int) -> Double) {
        var values: [Double] = []
        for n in sizes {
            let v = cost(n)
            values.append(v)
            table.add(BenchRow(group: "growth", name: "\(name), \(n.formatted()) \(label)", value: v, unit: unit))
        }
        // Between the two largest sizes, where fixed costs (a connection, a mount, a first
        // page) no longer hide the growth.
        guard sizes.count >= 2, let last = values.last, last > 0, values[values.count - 2] > 0 else { return }
        let k = log(last / values[values.count - 2]) / log(Double(sizes[sizes.count - 1]) / Double(sizes[sizes.count - 2]))
        let faster = k > expected.exponent + (expected == .linear ? 0.3 : 0.4)
        table.add(BenchRow(group: "growth", name: "\(name): growth exponent\(note.map { " (\($0))" } ?? "")\(faster ? "  FASTER THAN EXPECTED" : "")",
                           value: k, unit: "k", baselineName: "expected: \(expected.rawValue)", baselineValue: expected.exponent))
    }

    /// Resident memory of this process, in MB (/proc/self/statm).
    static func rssMB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return .nan }
        let pages = text.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? .nan
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1e6
    }

    static func records(_ n: Int, prefix: String, folder: (Int) -> String) -> [FileRecord] {
        (0..<n).map { i in
            let name = "\(prefix) \(i) - Some Artist.flac"
            let h = Hash256.blake3(Array(name.utf8))
            return FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: 4, format: 6, size: UInt64(i),
                              tags: [FileTag(type: FileTag.name, text: name), FileTag(type: FileTag.folder, text: folder(i))])
        }
    }

    /// Two nodes; B syncs A's chain of `files` files. Seconds, and B's process RSS growth.
    static func chainSync(files: Int) async -> (seconds: Double, rssMB: Double) {
        var limits = CacheLimits()
        limits.maxBlocksPerPeer = 4096
        guard let a = try? BenchPeer(root: nil, autoSync: false),
              let b = try? BenchPeer(root: a, autoSync: false, cacheLimits: limits) else { return (.nan, .nan) }
        try? a.store.chain.addFiles(records(files, prefix: "Track", folder: { "Music/Album \($0 / 12)" }))
        a.exchange.publishChainState()
        let deadline = Date().addingTimeInterval(10)
        while !b.node.isConnected(a.node.publicKey) && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        try? await Task.sleep(for: .milliseconds(300))
        let rss0 = rssMB()
        let start = Date()
        _ = await b.exchange.sync(peer: a.node.publicKey, height: a.store.chain.height, version: a.store.chain.version)
        let seconds = Date().timeIntervalSince(start)
        let rss = rssMB() - rss0
        let cached = (try? b.store.catalog.count(owner: a.node.publicKey)) ?? 0
        if cached != files { FileHandle.standardError.write(Data("growth: chain sync cached \(cached) of \(files) files\n".utf8)) }
        await a.stop()
        await b.stop()
        return (seconds, rss)
    }

    /// A catalog grown to each size in turn (the same database, so the larger sizes add to the
    /// smaller): names of ten words, one of which every tenth file carries.
    final class SearchIndexFixture {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pn-bench-growth-\(getpid())")
        let store: LocalStore?
        var indexed = 0
        let words = ["holiday", "report", "concert", "invoice", "garden", "music", "video", "paper", "draft", "final"]

        init() {
            store = try? LocalStore(dataDirectory: DataDirectory(url: dir), key: PrivateKey())
        }

        func grow(to n: Int) {
            guard let store else { return }
            let owners = (0..<100).map { _ in PrivateKey().publicKey }
            while indexed < n {
                let batch = min(10_000, n - indexed)
                let base = indexed
                let files = (0..<batch).map { j -> FileRecord in
                    let i = base + j
                    let name = "\(words[i % 10].capitalized)\(words[(i / 10) % 10].capitalized) \(i).dat"
                    let h = Hash256.blake3(Array(name.utf8))
                    return FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: 0, format: 0, size: UInt64(i),
                                      tags: [FileTag(type: FileTag.name, text: name)])
                }
                try? store.db.transaction { try store.catalog.add(files, owner: owners[(base / 10_000) % owners.count], version: 0, block: UInt64(base / 10_000)) }
                indexed += batch
            }
        }

        func exactSearch(files n: Int) -> Double {
            grow(to: n)
            guard let store else { return .nan }
            let term = SearchText.parseTerm("\"MusicGarden \(n / 2 + 5).dat\"")
            return Timer.bestSecondsPerCall(rounds: 3, iterations: 50) { blackHole(try? store.catalog.search(term)) }
        }

        func commonSearch(files n: Int) -> Double {
            grow(to: n)
            guard let store else { return .nan }
            let term = SearchText.parseTerm("garden")
            return Timer.bestSecondsPerCall(rounds: 3, iterations: 3) { blackHole(try? store.catalog.search(term, limit: 100)) }
        }

        func close() { try? FileManager.default.removeItem(at: dir) }
    }

    /// RSS growth of a runtime that learns `n` peers (a ping from each, as after bootstrap)
    /// and caches a 20-file chain for each.
    static func knownPeers(_ n: Int) async -> Double {
        guard let host = try? BenchPeer(root: nil, autoSync: false) else { return .nan }
        let rss0 = rssMB()
        for i in 0..<n {
            let key = PrivateKey()
            // Each from its own loopback port, as distinct peers (the replies go nowhere).
            let source = Endpoint(ip: Endpoint("127.0.0.1:1")!.ip, port: UInt16(20_000 + i % 40_000))
            host.node.handleAuthenticated(ReceivedPacket(packet: Packet(command: .ping, sequence: UInt32(i)), sender: key.publicKey),
                                          source: source, network: 0)
            try? host.store.db.transaction {
                try host.store.catalog.add(records(20, prefix: "Peer\(i) File", folder: { "f\($0 % 4)" }), owner: key.publicKey, version: 0, block: 0)
            }
        }
        let known = host.node.peers().count
        if known < n { FileHandle.standardError.write(Data("growth: \(known) of \(n) peers known\n".utf8)) }
        let grown = rssMB() - rss0
        await host.stop()
        return grown
    }

    static func lookupHops(nodes n: Int) async -> Double {
        let rows = await DHTSimulation.measure(nodes: n, deadFraction: 0, lookups: n >= 100_000 ? 200 : 300)
        return rows.first?.value ?? .nan
    }

    /// `ls -l` (warm: the second listing) of a peer's folder of `files` files through the drive.
    static func listing(files: Int) async -> Double? {
        var limits = CacheLimits()
        limits.maxBlocksPerPeer = 4096
        guard let holder = try? BenchPeer(root: nil, autoSync: false),
              let viewer = try? BenchPeer(root: holder, autoSync: true, cacheLimits: limits) else { return nil }
        try? holder.store.chain.addFiles(records(files, prefix: "Song", folder: { _ in "many" }))
        holder.exchange.publishChainState()
        let synced = Date().addingTimeInterval(120)
        while ((try? viewer.store.catalog.count(owner: holder.node.publicKey)) ?? 0) < files && Date() < synced {
            try? await Task.sleep(for: .milliseconds(100))
        }
        var ms: Double?
        if let drive = viewer.mountDrive(group: "growth") {
            let dir = drive.path + "/peers/\(holder.node.publicKey.hexString)/many"
            _ = Timer.bestCommandSeconds("/bin/ls", ["-l", dir], rounds: 1)
            ms = Timer.bestCommandSeconds("/bin/ls", ["-l", dir], rounds: 3).map { $0 * 1000 }
            drive.unmount()
        }
        await holder.stop()
        await viewer.stop()
        return ms
    }
}
