import Foundation
import PeernetCrypto
import PeernetNode
import PeernetProtocol
import PeernetSupport
import Synchronization

enum NodeBenchmarks {
    static func run(into table: BenchTable) {
        let rows = runBlocking { () async -> [BenchRow] in
            var rows: [BenchRow] = []
            for (n, dead) in [(1000, 0.0), (1000, 0.2), (10_000, 0.0), (10_000, 0.2)] {
                rows += await DHTSimulation.measure(nodes: n, deadFraction: dead, lookups: n >= 10_000 ? 300 : 500)
            }
            rows += await pipeline()
            return rows
        }
        for row in rows { table.add(row) }
    }

    /// Datagrams per second through a real node's receive pipeline on loopback, next to a bare
    /// socket receiving the same blast.
    static func pipeline() async -> [BenchRow] {
        var config = NodeConfig(listen: [Endpoint("127.0.0.1:0")!])
        config.perSourceRate = 1e9
        config.perSourceBurst = 1e9
        config.queueCapacity = 1 << 16
        let node = try! Node(key: PrivateKey(), config: config)
        node.start()
        let sender = PrivateKey()
        let blaster = try! UDPSocket(bind: Endpoint("127.0.0.1:0")!)
        let target = node.listenEndpoints[0]
        let count = 40_000
        let pings = (0..<64).map { i in try! PacketCodec.encode(Packet(command: .ping, sequence: UInt32(i)), sender: sender, receiver: node.publicKey) }

        // Regular packets: decrypt + recover + dispatch.
        var start = monotonic()
        var sent = 0
        while sent < count {
            if blaster.send(pings[sent % pings.count], to: target) { sent += 1 } else { usleep(50) }
            if sent % 2000 == 0 { while node.statistics.datagramsIn < sent - 8000 { usleep(200) } }
        }
        while node.statistics.datagramsIn < count && monotonic() - start < 30 { usleep(1000) }
        let regular = Double(node.statistics.datagramsIn) / (monotonic() - start)

        // Lite packets: table lookup and hand-off only.
        let id = TransferID.random()
        let received = Mutex(0)
        node.registerLiteSession(id) { _, _ in received.withLock { $0 += 1 } }
        let lite = try! LitePacket(id: id, data: [UInt8](repeating: 1, count: 1100)).encode()
        let liteCount = 200_000
        start = monotonic()
        sent = 0
        while sent < liteCount {
            if blaster.send(lite, to: target) { sent += 1 } else { usleep(20) }
            if sent % 5000 == 0 { while received.withLock({ $0 }) < sent - 20_000 && monotonic() - start < 30 { usleep(100) } }
        }
        while received.withLock({ $0 }) < liteCount * 95 / 100 && monotonic() - start < 30 { usleep(1000) }
        let liteRate = Double(received.withLock { $0 }) / (monotonic() - start)
        await node.stop()

        // Baseline: a bare socket with one receive thread, same datagrams, same pacing.
        let bare = try! UDPSocket(bind: Endpoint("127.0.0.1:0")!)
        let got = Mutex(0)
        let done = Mutex(false)
        let thread = Thread {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
            while !done.withLock({ $0 }) { if bare.receive(into: buffer) != nil { got.withLock { $0 += 1 } } }
            buffer.deallocate()
        }
        thread.start()
        start = monotonic()
        sent = 0
        while sent < liteCount {
            if blaster.send(lite, to: bare.localEndpoint) { sent += 1 } else { usleep(20) }
            if sent % 5000 == 0 { while got.withLock({ $0 }) < sent - 20_000 && monotonic() - start < 30 { usleep(100) } }
        }
        while got.withLock({ $0 }) < liteCount * 95 / 100 && monotonic() - start < 30 { usleep(1000) }
        let bareRate = Double(got.withLock { $0 }) / (monotonic() - start)
        done.withLock { $0 = true }

        let digest = BLAKE3.hash([1])
        let sig = try! sender.sign(digest: digest)
        let t0 = monotonic()
        for _ in 0..<2000 { _ = try? PublicKey.recover(signature: sig, digest: digest) }
        let recoverRate = 2000 / (monotonic() - t0)
        return [
            BenchRow(group: "node", name: "receive pipeline, regular packets (ping), 2 workers", value: regular, unit: "pkt/s",
                     baselineName: "bare secp256k1 recover, 1 core", baselineValue: recoverRate),
            BenchRow(group: "node", name: "receive pipeline, lite packets (1118 B)", value: liteRate, unit: "pkt/s",
                     baselineName: "bare UDP socket, same blast", baselineValue: bareRate),
        ]
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// An in-process Kademlia network: every node's routing table is drawn from the full set the
/// way a converged table looks (up to k random nodes per bucket), and queries are answered from
/// it with the k closest entries, as our nodes answer each other. The lookup is the node's own
/// `KademliaLookup`.
enum DHTSimulation {
    struct Sim: Sendable {
        let ids: [Hash256]
        let tables: [[Int]]
        let alive: [Bool]
    }

    static func build(nodes n: Int, deadFraction: Double) -> Sim {
        var rng = SplitMix64(seed: UInt64(n) &* 0x9E37_79B9_7F4A_7C15)
        let ids = (0..<n).map { _ in Hash256((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })! }
        let order = ids.indices.sorted { ids[$0] < ids[$1] }
        let top = order.map { prefix64(ids[$0]) }
        var tables: [[Int]] = []
        tables.reserveCapacity(n)
        for i in 0..<n {
            let own = prefix64(ids[i])
            var entries: [Int] = []
            for p in 0..<64 {
                // IDs that share p leading bits with us and differ in bit p: one contiguous range.
                let flip = own ^ (UInt64(1) << (63 - p))
                let mask: UInt64 = p == 63 ? ~0 : ~((UInt64(1) << (63 - p)) - 1)
                let lo = flip & mask, hi = lo | ~mask
                let from = lowerBound(top, lo), to = upperBound(top, hi)
                if from >= to { if to - from == 0 && p > 20 { break } else { continue } }
                // Up to 20 random members of the bucket's range, sampled without shuffling it:
                // the top buckets hold half, a quarter, ... of all nodes, and shuffling them for
                // every node (one getrandom per swap) made 100,000 nodes take hours.
                let size = to - from
                if size <= 20 {
                    entries += order[from..<to]
                } else {
                    var picked = Set<Int>()
                    while picked.count < 20 { picked.insert(Int.random(in: 0..<size, using: &rng)) }
                    entries += picked.map { order[from + $0] }
                }
            }
            tables.append(entries.filter { $0 != i })
        }
        let alive = (0..<n).map { _ in Double.random(in: 0..<1, using: &rng) >= deadFraction }
        return Sim(ids: ids, tables: tables, alive: alive)
    }

    static func prefix64(_ h: Hash256) -> UInt64 { h.bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }
    static func lowerBound(_ a: [UInt64], _ v: UInt64) -> Int {
        var lo = 0, hi = a.count
        while lo < hi { let m = (lo + hi) / 2; if a[m] < v { lo = m + 1 } else { hi = m } }
        return lo
    }
    static func upperBound(_ a: [UInt64], _ v: UInt64) -> Int {
        var lo = 0, hi = a.count
        while lo < hi { let m = (lo + hi) / 2; if a[m] <= v { lo = m + 1 } else { hi = m } }
        return lo
    }

    static func measure(nodes n: Int, deadFraction: Double, lookups: Int) async -> [BenchRow] {
        let sim = build(nodes: n, deadFraction: deadFraction)
        var hops: [Int] = [], queries: [Int] = [], found = 0
        let aliveNodes = (0..<n).filter { sim.alive[$0] }
        for _ in 0..<lookups {
            let from = aliveNodes.randomElement()!
            let wanted = aliveNodes.randomElement()!
            let target = sim.ids[wanted]
            let seeds = closest(sim.tables[from], to: target, in: sim, count: 20).map { LookupContact(id: sim.ids[$0], address: $0) }
            let outcome = await KademliaLookup.run(target: target, seeds: seeds, k: 20, alpha: 5, timeout: nil) { contact in
                guard sim.alive[contact.address] else { return .failed }
                let reply = closest(sim.tables[contact.address], to: target, in: sim, count: 20)
                return .contacts(reply.map { LookupContact(id: sim.ids[$0], address: $0) }, value: nil)
            }
            hops.append(outcome.hops)
            queries.append(outcome.queries)
            if outcome.closest.first?.address == wanted { found += 1 }
        }
        hops.sort()
        queries.sort()
        let label = "\(n) nodes\(deadFraction > 0 ? ", \(Int(deadFraction * 100))% silently gone" : "")"
        let log2n = log2(Double(n))
        return [
            BenchRow(group: "dht", name: "lookup hops, median (\(label))", value: Double(hops[hops.count / 2]), unit: "hops",
                     baselineName: "log2(N)", baselineValue: log2n),
            BenchRow(group: "dht", name: "lookup hops, p99 (\(label))", value: Double(hops[hops.count * 99 / 100]), unit: "hops",
                     baselineName: "log2(N)", baselineValue: log2n),
            BenchRow(group: "dht", name: "messages per lookup, median (\(label))", value: Double(queries[queries.count / 2]), unit: "queries",
                     baselineName: "log2(N)", baselineValue: log2n),
            BenchRow(group: "dht", name: "messages per lookup, p99 (\(label))", value: Double(queries[queries.count * 99 / 100]), unit: "queries",
                     baselineName: "log2(N)", baselineValue: log2n),
            BenchRow(group: "dht", name: "lookup success (\(label))", value: 100 * Double(found) / Double(lookups), unit: "%"),
        ]
    }

    static func closest(_ table: [Int], to target: Hash256, in sim: Sim, count: Int) -> [Int] {
        Array(table.sorted { sim.ids[$0].distance(to: target) < sim.ids[$1].distance(to: target) }.prefix(count))
    }
}

