import Foundation
import PeernetExchange
import PeernetFS
import PeernetStore

/// `drive`: the write side of me/ against the share folder used directly, in one run, for each
/// way me/ can be provided (passthrough, through the node, linked, bound): the
/// sequential write and read of a large file, `cp -r` and `rm -r` of 10,000 small files, the
/// time from the copy's end to "published", and the disk a published file costs.
/// Size: PEERNET_BENCH_DRIVE_MB (default 1024). Rounds are interleaved, best of three.
enum DriveBenchmarks {
    static func run(into table: BenchTable) {
        guard FileManager.default.fileExists(atPath: "/dev/fuse") else {
            FileHandle.standardError.write(Data("drive: skipped (no /dev/fuse)\n".utf8))
            return
        }
        let megabytes = Int(ProcessInfo.processInfo.environment["PEERNET_BENCH_DRIVE_MB"] ?? "") ?? 1024
        guard let peer = try? BenchPeer(root: nil, autoSync: false) else { return }
        defer { runBlocking { await peer.stop() } }
        // All four ways in one run: FUSE passthrough (--share-view fuse where the kernel has
        // it), every request through the node (as before passthrough), me as a link to the
        // share folder (--share-view link), and me/ bound onto it (--share-view bind).
        // PEERNET_BENCH_DRIVE_MODES (passthrough,node,linked,bound) picks some.
        let picked = ProcessInfo.processInfo.environment["PEERNET_BENCH_DRIVE_MODES"].map { $0.split(separator: ",").map(String.init) }
        for mode in Mode.allCases where picked?.contains("\(mode)") ?? true { measure(into: table, peer: peer, megabytes: megabytes, mode) }
    }

    enum Mode: CaseIterable {
        case passthrough, node, linked, bound
        var label: String {
            switch self {
            case .passthrough: return " (passthrough)"
            case .node: return " (through the node)"
            case .linked: return " (linked, --share-view link)"
            case .bound: return " (bound, --share-view bind)"
            }
        }
        var shareView: FuseMount.ShareView {
            switch self {
            case .passthrough, .node: return .fuse
            case .linked: return .link
            case .bound: return .bind
            }
        }
    }

    static func measure(into table: BenchTable, peer: BenchPeer, megabytes: Int, _ how: Mode) {
        let plain = peer.dir.appendingPathComponent("plain").path
        try? FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        guard let (mountpoint, unmount, mount) = peer.mountDriveReturningMount(group: "drive", passthrough: how == .passthrough, shareView: how.shareView) else { return }
        defer { unmount() }
        let me = mountpoint + "/me"
        // The mode, once INIT was answered (the first request below waits for it).
        _ = FileManager.default.fileExists(atPath: me)
        if how == .passthrough && !mount.passthroughActive {
            FileHandle.standardError.write(Data("drive: no FUSE passthrough in this kernel; no passthrough rows\n".utf8))
            return
        }
        if how == .bound {
            do { try mount.provideShare() } catch {
                FileHandle.standardError.write(Data("drive: \(error); no bound rows\n".utf8))
                return
            }
        }
        let mode = how.label
        let publisher = peer.runtime.publisher
        func settle() { _ = publisher.waitUntilSettled(timeout: 600) }
        func sh(_ command: String) -> Double? { Timer.bestCommandSeconds("/bin/sh", ["-c", command], rounds: 1) }
        let mb = Double(megabytes) * 1.048576

        // 1. Sequential write (with fsync) and cold read of a large file.
        var best: [String: Double] = [:]
        func record(_ key: String, _ seconds: Double?) { if let s = seconds, s < best[key, default: .infinity] { best[key] = s } }
        for round in 0..<3 {
            for (key, dir) in (round % 2 == 0 ? [("me", me), ("plain", plain)] : [("plain", plain), ("me", me)]) {
                _ = sh("rm -f \(dir)/big.bin")
                settle()
                record("write-" + key, sh("dd if=/dev/zero of=\(dir)/big.bin bs=1M count=\(megabytes) conv=fsync status=none"))
                settle()
                FSBenchmarks.dropKernelPages(plain + "/big.bin")
                FSBenchmarks.dropKernelPages(publisher.folder.path + "/big.bin")
                record("read-" + key, FSBenchmarks.bestRead(dir + "/big.bin", rounds: 1))
                // Small writes (a database, a log): 100 MiB in 4 KiB write(2) calls.
                _ = sh("rm -f \(dir)/small.bin")
                record("small-" + key, sh("dd if=/dev/zero of=\(dir)/small.bin bs=4k count=25600 conv=fsync status=none"))
                _ = sh("rm -f \(dir)/small.bin")
            }
        }
        if let a = best["write-me"], let b = best["write-plain"] {
            table.add(BenchRow(group: "drive", name: "sequential write of \(megabytes) MiB into me/ (dd, fsync)" + mode, value: mb / a, unit: "MB/s",
                               baselineName: "the same into the share folder directly", baselineValue: mb / b))
        }
        if let a = best["read-me"], let b = best["read-plain"] {
            table.add(BenchRow(group: "drive", name: "cold sequential read of it through me/" + mode, value: mb / a, unit: "MB/s",
                               baselineName: "the same from the share folder directly", baselineValue: mb / b))
        }
        if let a = best["small-me"], let b = best["small-plain"] {
            table.add(BenchRow(group: "drive", name: "100 MiB in 4 KiB writes into me/ (dd bs=4k, fsync)" + mode, value: 104.8576 / a, unit: "MB/s",
                               baselineName: "the same into the share folder directly", baselineValue: 104.8576 / b))
        }
        // Disk: what the published file costs in all (share folder + warehouse).
        _ = sh("dd if=/dev/urandom of=\(me)/big.bin bs=1M count=\(megabytes) conv=fsync status=none")
        settle()
        func kilobytes(_ path: String) -> Double {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/du")
            p.arguments = ["-sk", path]
            let out = Pipe()
            p.standardOutput = out
            guard (try? p.run()) != nil else { return 0 }
            p.waitUntilExit()
            return Double(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\t").first ?? "") ?? 0
        }
        let stored = kilobytes(publisher.folder.path) + kilobytes(peer.store.warehouse.root.path)
        table.add(BenchRow(group: "drive", name: "disk used by a published \(megabytes) MiB file (share folder + warehouse)" + mode,
                           value: stored / 1024, unit: "MiB", baselineName: "the file alone", baselineValue: Double(megabytes)))
        _ = sh("rm -f \(me)/big.bin \(plain)/big.bin")
        settle()

        // 2. cp -r and rm -r of 10,000 small files; the time from the copy's end to published.
        let source = peer.dir.appendingPathComponent("small").path
        _ = sh("mkdir -p \(source) && cd \(source) && for i in $(seq 1 10000); do echo \"small file $i\" > f$i.txt; done")
        var copyBest: [String: Double] = [:], removeBest: [String: Double] = [:]
        var publishTimes: [Double] = []
        // Every round copies into a new folder and the removals come after all copies: ext4
        // scans past recently deleted inodes when it makes new ones (perf: `recently_deleted`
        // was 40 % of the time), which made a round that followed a removal slow, whichever side.
        for round in 0..<3 {
            for (key, dir) in (round % 2 == 0 ? [("me", me), ("plain", plain)] : [("plain", plain), ("me", me)]) {
                sync()
                // Warm: the source read once and the CPU busy right before the timed copy. A
                // copy that came after an idle pause (the wait for publishing) was several
                // times slower than the same copy right after another, into either place.
                _ = sh("tar cf - -C \(source) . > /dev/null")
                let start = Timer.now()
                guard sh("cp -r \(source) \(dir)/small\(round)") != nil else { continue }
                let copied = Timer.now()
                copyBest[key] = min(copyBest[key, default: .infinity], copied - start)
                if key == "me" {
                    let deadline = Date().addingTimeInterval(120)
                    while ((try? peer.store.chain.files().filter { !$0.isVirtualFolder }.count) ?? 0) < 10_000 * (round + 1) && Date() < deadline { usleep(20_000) }
                    publishTimes.append(Timer.now() - copied)
                }
                settle()
            }
        }
        for round in 0..<3 {
            for (key, dir) in (round % 2 == 0 ? [("me", me), ("plain", plain)] : [("plain", plain), ("me", me)]) {
                // Both trees on disk first: ext4 frees a file whose blocks were never allocated
                // (delayed allocation, not yet written back) ~6x faster, and which side had
                // been written back depended on timing (rm -r of 10,000 files: 0.13 s right
                // after the copy, 0.75 s after sync, the same tree).
                sync()
                if let r = sh("rm -r \(dir)/small\(round)") { removeBest[key] = min(removeBest[key, default: .infinity], r) }
                settle()
            }
        }
        if let a = copyBest["me"], let b = copyBest["plain"] {
            table.add(BenchRow(group: "drive", name: "cp -r of 10,000 small files into me/" + mode, value: a * 1000, unit: "ms",
                               baselineName: "the same into the share folder directly", baselineValue: b * 1000))
        }
        if let a = removeBest["me"], let b = removeBest["plain"] {
            table.add(BenchRow(group: "drive", name: "rm -r of them in me/" + mode, value: a * 1000, unit: "ms",
                               baselineName: "the same in the share folder directly", baselineValue: b * 1000))
        }
        if let fastest = publishTimes.min() {
            table.add(BenchRow(group: "drive", name: "from the copy's end to all 10,000 published (best of \(publishTimes.count))" + mode, value: fastest, unit: "s",
                               baselineName: "the settle time (PublishDelay)", baselineValue: publisher.options.settle))
        }
    }
}
