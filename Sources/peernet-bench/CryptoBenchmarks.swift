import Foundation
import PeernetCrypto

enum CryptoBenchmarks {
    static func run(into table: BenchTable) {
        let mib = 1 << 20
        let small = (0..<mib).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let large = [UInt8](unsafeUninitializedCapacity: 64 * mib) { buf, n in
            for i in 0..<(64 * mib) { buf[i] = UInt8(truncatingIfNeeded: i &* 131 &+ (i >> 13)) }
            n = 64 * mib
        }

        // b3sum with one thread, on the same 64 MiB as a file (page cache warm), as the baseline.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("peernet-bench-\(getpid()).bin").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(large))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let b3sumSeconds = Timer.bestCommandSeconds("/usr/bin/b3sum", ["--num-threads", "1", "--no-names", path], rounds: 5)
        let b3sumMBs = b3sumSeconds.map { 64.0 * 1.048576 / $0 }

        let t1 = Timer.bestSecondsPerCall(rounds: 5, iterations: 64) { blackHole(BLAKE3.hash(small)) }
        table.add(BenchRow(group: "crypto", name: "BLAKE3 one-shot, 1 MiB", value: 1.048576 / t1, unit: "MB/s",
                           baselineName: b3sumMBs == nil ? nil : "b3sum --num-threads 1, 64 MiB file", baselineValue: b3sumMBs))
        let t64 = Timer.bestSecondsPerCall(rounds: 3, iterations: 2) { blackHole(BLAKE3.hash(large)) }
        table.add(BenchRow(group: "crypto", name: "BLAKE3 one-shot, 64 MiB", value: 64 * 1.048576 / t64, unit: "MB/s",
                           baselineName: b3sumMBs == nil ? nil : "b3sum --num-threads 1, 64 MiB file", baselineValue: b3sumMBs))
        let packet = Array(small.prefix(1200))
        let tp = Timer.bestSecondsPerCall(iterations: 20_000) { blackHole(BLAKE3.hash(packet)) }
        table.add(BenchRow(group: "crypto", name: "BLAKE3 one-shot, 1200 B (packet)", value: 1200e-6 / tp, unit: "MB/s"))

        let key = PrivateKey()
        let digest = BLAKE3.hash(Array("bench".utf8))
        let tSign = Timer.bestSecondsPerCall(iterations: 2000) { blackHole(try? key.sign(digest: digest)) }
        table.add(BenchRow(group: "crypto", name: "secp256k1 sign (compact recoverable)", value: 1 / tSign, unit: "ops/s"))
        let sig = try! key.sign(digest: digest)
        let tRecover = Timer.bestSecondsPerCall(iterations: 2000) { blackHole(try? PublicKey.recover(signature: sig, digest: digest)) }
        table.add(BenchRow(group: "crypto", name: "secp256k1 recover", value: 1 / tRecover, unit: "ops/s"))

        var buffer = Array(small.prefix(64 * 1024))
        let skey = Array(digest), nonce = [UInt8](repeating: 3, count: 8)
        let tSalsa = Timer.bestSecondsPerCall(iterations: 2000) { Salsa20.xor(&buffer, key: skey, nonce: nonce) }
        table.add(BenchRow(group: "crypto", name: "Salsa20 XOR, 64 KiB buffers", value: 65536e-6 / tSalsa, unit: "MB/s"))
        var pkt = packet
        let tSalsaP = Timer.bestSecondsPerCall(iterations: 100_000) { Salsa20.xor(&pkt, key: skey, nonce: nonce) }
        table.add(BenchRow(group: "crypto", name: "Salsa20 XOR, 1200 B packets", value: 1200e-6 / tSalsaP, unit: "MB/s"))
    }
}
