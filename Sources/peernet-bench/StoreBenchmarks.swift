import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetStore
import PeernetSupport

enum StoreBenchmarks {
    static func run(into table: BenchTable) {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("peernet-bench-store-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        // 1 GiB file, page cache warm for both.
        let size = 1 << 30
        let file = dir.appendingPathComponent("one-gib.bin")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        if let handle = FileHandle(forWritingAtPath: file.path) {
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            for i in 0..<(size >> 20) {
                for j in stride(from: 0, to: chunk.count, by: 4096) { chunk[j] = UInt8(truncatingIfNeeded: i &+ j) }
                handle.write(Data(chunk))
            }
            try? handle.close()
        }
        let b3 = Timer.bestCommandSeconds("/usr/bin/b3sum", ["--no-names", file.path], rounds: 2)
        let key = PrivateKey()
        var best = Double.infinity
        for round in 0..<2 {
            let data = DataDirectory(url: dir.appendingPathComponent("share\(round)"))
            guard let store = try? LocalStore(dataDirectory: data, key: key) else { continue }
            let start = Timer.now()
            _ = try? store.share([LocalStore.ShareRequest(path: file.path)])
            best = min(best, Timer.now() - start)
            try? FileManager.default.removeItem(at: data.url)
        }
        table.add(BenchRow(group: "store", name: "share 1 GiB (copy + BLAKE3 + Merkle + record)", value: Double(size) / 1e6 / best,
                           unit: "MB/s", baselineName: b3 == nil ? nil : "b3sum (all threads) on the same file",
                           baselineValue: b3.map { Double(size) / 1e6 / $0 }))
        try? FileManager.default.removeItem(at: file)

        // Search over 100,000 files.
        let data = DataDirectory(url: dir.appendingPathComponent("index"))
        guard let store = try? LocalStore(dataDirectory: data, key: key) else { return }
        let words = ["holiday", "report", "concert", "invoice", "garden", "music", "video", "paper", "draft", "final"]
        var files: [FileRecord] = []
        for i in 0..<100_000 {
            let name = "\(words[i % 10].capitalized)\(words[(i / 10) % 10].capitalized) \(i).dat"
            let h = Hash256.blake3(Array(name.utf8))
            files.append(FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: 0, format: 0,
                                    size: UInt64(i), tags: [FileTag(type: FileTag.name, text: name),
                                                            FileTag(type: FileTag.folder, text: "set \(i % 100)")]))
        }
        let indexStart = Timer.now()
        try? store.chain.addFiles(files)
        let indexSeconds = Timer.now() - indexStart
        table.add(BenchRow(group: "store", name: "index 100,000 files (blocks + catalog + words)", value: 100_000 / indexSeconds, unit: "files/s"))
        let rare = SearchText.parseTerm("\"MusicGarden 12345.dat\"")
        let tRare = Timer.bestSecondsPerCall(rounds: 3, iterations: 50) { blackHole(try? store.catalog.search(rare)) }
        table.add(BenchRow(group: "store", name: "search, exact name (1 hit), 100k files", value: tRare * 1e6, unit: "µs"))
        let common = SearchText.parseTerm("garden concert")
        let tCommon = Timer.bestSecondsPerCall(rounds: 3, iterations: 3) { blackHole(try? store.catalog.search(common, limit: 100)) }
        table.add(BenchRow(group: "store", name: "search, 2 common words (20,000 hits), first 100", value: tCommon * 1000, unit: "ms"))
        let tSorted = Timer.bestSecondsPerCall(rounds: 3, iterations: 3) { blackHole(try? store.catalog.search(common, sort: .nameAscending, limit: 100)) }
        table.add(BenchRow(group: "store", name: "search, 2 common words (20,000 hits), sorted by name", value: tSorted * 1000, unit: "ms"))
    }
}

extension String {
    var capitalized: String { prefix(1).uppercased() + dropFirst() }
}
