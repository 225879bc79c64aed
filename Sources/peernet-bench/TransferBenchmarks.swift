import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetNode
import PeernetProtocol
import PeernetStore
import Synchronization

enum TransferBenchmarks {
    static func run(into table: BenchTable) {
        for row in runBlocking({ await measure() }) { table.add(row) }
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    static func measure() async -> [BenchRow] {
        var out: [BenchRow] = []
        guard let holder = try? BenchPeer(root: nil, autoSync: false), let getter = try? BenchPeer(root: holder, autoSync: false) else { return out }
        let deadline = Date().addingTimeInterval(10)
        while !getter.node.isConnected(holder.node.publicKey) && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        // PEERNET_BENCH_TRANSFER_MB (e.g. "64") and PEERNET_BENCH_TRANSFER_MODE (compat|fast)
        // narrow the run, for profiling one case under callgrind or perf.
        let env = ProcessInfo.processInfo.environment
        let sizes = env["PEERNET_BENCH_TRANSFER_MB"].map { $0.split(separator: ",").compactMap { Int($0) }.map { ("\($0) MiB", $0 << 20) } }
            ?? [("64 MiB", 64 << 20), ("1 GiB", 1 << 30)]
        let modes = env["PEERNET_BENCH_TRANSFER_MODE"].map { [$0 == "fast"] } ?? [false, true]
        for (label, size) in sizes {
            let path = holder.dir.appendingPathComponent("src-\(size).bin")
            _ = FileManager.default.createFile(atPath: path.path, contents: nil)
            if let h = FileHandle(forWritingAtPath: path.path) {
                var chunk = [UInt8](repeating: 0, count: 1 << 20)
                for i in 0..<(size >> 20) {
                    for j in stride(from: 0, to: chunk.count, by: 512) { chunk[j] = UInt8(truncatingIfNeeded: i &* 7 &+ j) }
                    h.write(Data(chunk))
                }
                try? h.close()
            }
            guard let records = try? holder.store.share([LocalStore.ShareRequest(path: path.path)]), let record = records.first else { continue }
            try? FileManager.default.removeItem(at: path)
            for fast in modes {
                let downloader = FileDownloader(exchange: getter.exchange, search: nil, fastPath: fast)
                let cpu0 = cpuSeconds()
                let start = Date()
                do {
                    // As `peernet get` downloads: nothing reads the cache meanwhile (readSoon).
                    try await downloader.download(DownloadTarget(record, owner: holder.node.publicKey), readSoon: false)
                } catch {
                    FileHandle.standardError.write(Data("download \(label) failed: \(error)\n".utf8))
                    continue
                }
                let seconds = Date().timeIntervalSince(start)
                let cpu = cpuSeconds() - cpu0
                let mode = fast ? "encrypted fast path (XChaCha20-Poly1305, 16 KiB packets)" : "compatible mode (UDT, 1198 B packets)"
                out.append(BenchRow(group: "transfer", name: "download \(label), \(mode)", value: Double(size) / 1e6 / seconds,
                                    unit: "MB/s", baselineName: "reference node to node (stated in the issue)", baselineValue: 30))
                out.append(BenchRow(group: "transfer", name: "  CPU per GB, both sides in one process", value: cpu / (Double(size) / 1e9), unit: "s/GB"))
                try? getter.store.downloads.remove(record.hash)
            }
        }
        await holder.stop()
        await getter.stop()
        return out
    }
}
