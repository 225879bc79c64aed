import Foundation
import PeernetExchange
import PeernetNode
import PeernetStore
import Synchronization

/// `flood`: an honest 64 MiB download while 256 UDP ports of one host flood the holder with
/// junk datagrams of 60,000 bytes (5,000 a second, ~300 MB/s, then as fast as one thread can
/// send them: the socket buffer itself overflows), against the same download
/// without the flood, and the process's RSS growth under the flood against the 256 MiB bound
/// (issue 14: before the bounds, such a flood made a 5 MB download fail and RSS reach 737 MB).
/// Both nodes and the flood share this machine's cores, so the ratio includes the CPU the
/// flood itself takes.
enum FloodBenchmarks {
    static func run(into table: BenchTable) {
        for row in runBlocking({ await measure() }) { table.add(row) }
    }

    static func rssMiB() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let kb = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
        return kb / 1024
    }

    static func measure() async -> [BenchRow] {
        guard let holder = try? BenchPeer(root: nil, autoSync: false), let getter = try? BenchPeer(root: holder, autoSync: false) else { return [] }
        defer { runBlocking { await holder.stop(); await getter.stop() } }
        let deadline = Date().addingTimeInterval(10)
        while !getter.node.isConnected(holder.node.publicKey) && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        let size = 64 << 20
        let path = holder.dir.appendingPathComponent("flood-src.bin").path
        FSBenchmarks.write(path, megabytes: size >> 20, seed: 9)
        guard let record = try? holder.store.share([LocalStore.ShareRequest(path: path)]).first else { return [] }
        let target = DownloadTarget(record, owner: holder.node.publicKey)

        func download() async -> Double? {
            try? getter.store.downloads.remove(record.hash)
            let start = Date()
            do { try await getter.runtime.downloader.download(target) } catch {
                FileHandle.standardError.write(Data("flood: download failed: \(error)\n".utf8))
                return nil
            }
            return Date().timeIntervalSince(start)
        }

        // Without the flood: best of two.
        var quiet = Double.infinity
        for _ in 0..<2 { if let s = await download() { quiet = min(quiet, s) } }
        let rssBefore = rssMiB()

        // The flood: 256 sockets, round robin, at `rate` datagrams a second (nil: as fast as
        // one thread sends), until stopped (60 s at most).
        let sockets = (0..<256).compactMap { _ in try? UDPSocket(bind: Endpoint("127.0.0.1:0")!) }
        let targetEndpoint = holder.node.listenEndpoints[0]
        func flood(rate: Double?) async -> (seconds: Double, peak: Double, sent: Int) {
            let stop = Atomic(false)
            let sent = Atomic(0)
            let peak = Mutex(rssBefore)
            let flooder = Thread {
                let junk = (0..<60_000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
                let start = Date()
                var n = 0
                while !stop.load(ordering: .relaxed) && Date().timeIntervalSince(start) < 60 {
                    for _ in 0..<50 {
                        _ = sockets[n % sockets.count].send(junk, to: targetEndpoint)
                        n += 1
                    }
                    if let rate {
                        let wait = start.addingTimeInterval(Double(n) / rate).timeIntervalSinceNow
                        if wait > 0 { usleep(useconds_t(wait * 1e6)) }
                    }
                    if n % 1000 == 0 { let r = rssMiB(); peak.withLock { $0 = max($0, r) } }
                }
                sent.store(n, ordering: .relaxed)
            }
            flooder.start()
            try? await Task.sleep(for: .seconds(2))   // let the flood fill what it can
            let floodStart = Date()
            var flooded = Double.infinity
            for _ in 0..<2 { if let s = await download() { flooded = min(flooded, s) } }
            peak.withLock { $0 = max($0, rssMiB()) }
            stop.store(true, ordering: .relaxed)
            while flooder.isExecuting { usleep(10_000) }
            let n = sent.load(ordering: .relaxed)
            let elapsed = Date().timeIntervalSince(floodStart) + 2
            let stats = holder.node.statistics
            FileHandle.standardError.write(Data("flood (\(rate.map { "\(Int($0))/s" } ?? "line rate")): \(n) junk datagrams sent (~\(Int(Double(n) / elapsed))/s); holder rate-limited \(stats.rateLimited), queue drops \(stats.queueDropped)\n".utf8))
            return (flooded, peak.withLock { $0 }, n)
        }

        var out: [BenchRow] = []
        let mb = Double(size) / 1e6
        for (rate, label) in [(Double?(5_000), "5,000/s"), (nil, "as fast as one thread sends")] {
            let result = await flood(rate: rate)
            if quiet.isFinite && result.seconds.isFinite {
                out.append(BenchRow(group: "flood", name: "64 MiB download while 256 ports flood the holder (60 KB junk, \(label))", value: mb / result.seconds,
                                    unit: "MB/s", baselineName: "the same download without the flood", baselineValue: mb / quiet))
            }
            out.append(BenchRow(group: "flood", name: "  RSS growth of both nodes under that flood", value: result.peak - rssBefore,
                                unit: "MiB", baselineName: "the bound a remote peer may cause", baselineValue: 256))
        }
        return out
    }
}
