import PeernetProtocol
@testable import PeernetTransfer
import Synchronization
import XCTest

/// A link between two UDT endpoints with a virtual clock: each packet is delayed, may be lost
/// (with a seeded generator) or reordered. Everything is deterministic and runs in milliseconds.
final class VirtualLink: @unchecked Sendable {
    struct InFlight { let at: Double; let toServer: Bool; let bytes: [UInt8] }
    var queue: [InFlight] = []
    var now: Double = 0
    var loss: Double
    var reorder: Double
    var rng: UInt64
    var delivered = 0, dropped = 0
    var dropFilter: ([UInt8], Bool) -> Bool = { _, _ in false }

    init(loss: Double = 0, reorder: Double = 0, seed: UInt64 = 42) {
        self.loss = loss
        self.reorder = reorder
        self.rng = seed
    }

    func random() -> Double {
        rng = rng &* 6364136223846793005 &+ 1442695040888963407
        return Double(rng >> 11) / Double(1 << 53)
    }

    func send(_ bytes: [UInt8], toServer: Bool) {
        if dropFilter(bytes, toServer) || random() < loss { dropped += 1; return }
        let delay = 0.0005 + (random() < reorder ? random() * 0.004 : 0)
        queue.append(InFlight(at: now + delay, toServer: toServer, bytes: bytes))
    }
}

final class UDTConnectionTests: XCTestCase {
    func run(size: Int, loss: Double, reorder: Double = 0, seed: UInt64 = 7, maxTime: Double = 120, pieces: [Int] = [],
             initialSequence: UInt32 = UInt32.random(in: 0...0x7fff_ffff), window: Int = 64,
             configure: (VirtualLink) -> Void = { _ in }) throws -> (received: [UInt8], link: VirtualLink, time: Double) {
        let link = VirtualLink(loss: loss, reorder: reorder, seed: seed)
        configure(link)
        let received = Mutex<[UInt8]>([])
        var config = UDTConnection.Configuration()
        config.flowWindow = window
        config.maxWindow = window
        let client = UDTConnection(role: .client, config: config, initialSequence: initialSequence, now: 0) { link.send($0.bytes, toServer: true) }
        let server = UDTConnection(role: .server, config: config, now: 0) { link.send($0.bytes, toServer: false) }
        server.onData = { bytes in received.withLock { $0 += bytes } }
        let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 8)) }
        client.start(now: 0)
        // Written in `pieces` (cycled) or at once.
        var at = 0, piece = 0
        while at < size {
            let n = pieces.isEmpty ? size : min(size - at, pieces[piece % pieces.count])
            client.write(Array(data[at..<(at + n)]))
            at += n
            piece += 1
        }
        client.finish()
        var steps = 0
        while link.now < maxTime {
            link.now += 0.001
            steps += 1
            // Deliver everything due.
            let due = link.queue.filter { $0.at <= link.now }.sorted { $0.at < $1.at }
            link.queue.removeAll { $0.at <= link.now }
            for p in due {
                link.delivered += 1
                if p.toServer { server.receive(p.bytes, now: link.now) } else { client.receive(p.bytes, now: link.now) }
            }
            client.tick(now: link.now)
            server.tick(now: link.now)
            if case .closed = client.state, received.withLock({ $0.count }) == size { break }
            if case .closed(let why) = client.state, why != "done" { break }
        }
        return (received.withLock { $0 }, link, link.now)
    }

    func expected(_ size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 8)) } }

    /// A data packet held as header and payload slice is the packet `UDTDataPacket` encodes.
    func testOutgoingDataPacketIsTheEncodedPacket() {
        let payload = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        let held = UDTOutgoing.data(sequence: 0x8123_4567, messageNumber: 0x3fff_0001, timestamp: 99, destinationSocketID: 0xdead_beef,
                                    payload: payload[100...])
        let encoded = UDTDataPacket.encode(sequence: 0x8123_4567, boundary: 3, inOrder: true, messageNumber: 0x3fff_0001,
                                           timestamp: 99, destinationSocketID: 0xdead_beef, payload: payload[100...])
        XCTAssertEqual(held.bytes, encoded)
        XCTAssertEqual(held.count, encoded.count)
        var copied = [UInt8](repeating: 0, count: held.count)
        copied.withUnsafeMutableBytes { held.copy(into: $0) }
        XCTAssertEqual(copied, encoded)
        XCTAssertEqual(UDTOutgoing.control([1, 2, 3]).bytes, [1, 2, 3])
    }

    func testLosslessTransfers() throws {
        for size in [0, 1, 1197, 1198, 1199, 100_000, 1_000_000] {
            let r = try run(size: size, loss: 0)
            XCTAssertEqual(r.received, expected(size), "size \(size)")
        }
    }

    /// The sender queues written chunks as they are and cuts packets across them: every data
    /// packet but the last is full, whatever sizes the writes had.
    func testWritesOfAnySizeMakeFullPackets() throws {
        let size = 300_000
        var dataPackets = 0
        let r = try run(size: size, loss: 0, pieces: [1, 7, 1197, 1198, 1199, 3000, 0, 65_536, 2]) { link in
            link.dropFilter = { bytes, toServer in
                if toServer && bytes[0] & 0x80 == 0 { dataPackets += 1 }
                return false
            }
        }
        XCTAssertEqual(r.received, expected(size))
        XCTAssertEqual(dataPackets, (size + 1197) / 1198)
    }

    /// A writer waiting for room wakes once the window has taken enough of the queue (not
    /// before), and at the latest when the connection closes: what keeps a served transfer's
    /// queue full without polling it.
    func testWaitForRoomWakesWhenTheQueueDrainsOrTheConnectionCloses() async throws {
        let link = VirtualLink()
        let client = UDTConnection(role: .client, now: 0) { link.send($0.bytes, toServer: true) }
        let server = UDTConnection(role: .server, now: 0) { link.send($0.bytes, toServer: false) }
        client.start(now: 0)
        client.write([UInt8](repeating: 1, count: 400_000))
        let limit = 200_000
        let woke = Mutex<Int?>(nil)
        let waiter = Task { await client.waitForRoom(limit); woke.withLock { $0 = client.queuedBytes } }
        var stepsWhileWaiting = 0
        for _ in 0..<5_000 {
            link.now += 0.001
            let due = link.queue.filter { $0.at <= link.now }
            link.queue.removeAll { $0.at <= link.now }
            for p in due { if p.toServer { server.receive(p.bytes, now: link.now) } else { client.receive(p.bytes, now: link.now) } }
            client.tick(now: link.now)
            server.tick(now: link.now)
            await Task.yield()
            if woke.withLock({ $0 }) != nil { break }
            if client.queuedBytes > limit { stepsWhileWaiting += 1 }
        }
        await waiter.value
        XCTAssertGreaterThan(stepsWhileWaiting, 0, "the writer waited while the queue was over the limit")
        XCTAssertLessThanOrEqual(woke.withLock { $0 } ?? .max, limit)
        // A stalled connection (nothing delivered any more): closing it wakes the writer.
        client.write([UInt8](repeating: 2, count: 1_000_000))
        let closedWake = Task { await client.waitForRoom(0); return client.state }
        try await Task.sleep(for: .milliseconds(20))
        client.close(reason: "test", now: link.now)
        let state = await closedWake.value
        XCTAssertEqual(state, .closed("test"))
    }

    /// ACKs every 4 packets at the start (a reference sender's first window is 16 packets),
    /// every 32 once 1,024 packets have arrived: fewer ACK/ACK2 pairs on long transfers.
    func testAckIntervalWidensAfterTheStart() throws {
        let size = 3_000_000  // 2,505 packets
        var acks = 0
        let r = try run(size: size, loss: 0) { link in
            link.dropFilter = { bytes, toServer in
                if !toServer && bytes[0] & 0x80 != 0 && (UInt16(bytes[0] & 0x7f) << 8 | UInt16(bytes[1])) == 2 { acks += 1 }
                return false
            }
        }
        XCTAssertEqual(r.received, expected(size))
        XCTAssertEqual(UDTConnection.ackInterval(delivered: 10), 4)
        XCTAssertEqual(UDTConnection.ackInterval(delivered: 5000), 32)
        // 256 in the first 1,024 packets, ~47 after, plus the timer's for tails: well under the
        // 626 that ACKing every 4 packets would send.
        XCTAssertGreaterThan(acks, 256)
        XCTAssertLessThan(acks, 450)
    }

    func testFivePercentLossAndReordering() throws {
        let r = try run(size: 2_000_000, loss: 0.05, reorder: 0.1)
        XCTAssertEqual(r.received.count, 2_000_000)
        XCTAssertEqual(r.received, expected(2_000_000))
        XCTAssertGreaterThan(r.link.dropped, 50)
    }

    func testTwentyPercentLoss() throws {
        let r = try run(size: 500_000, loss: 0.2, reorder: 0.2, seed: 99)
        XCTAssertEqual(r.received, expected(500_000))
    }

    /// Sequence numbers wrapping past 2^31 - 1 mid-transfer, with loss and reordering, in the
    /// wide window the exchange uses: the receive ring and the sender's per-packet loss marks
    /// are indexed by sequence number and must agree across the wrap.
    func testLossAcrossTheSequenceWrapInAWideWindow() throws {
        for seed in [3, 11] as [UInt64] {
            let r = try run(size: 3_000_000, loss: 0.05, reorder: 0.2, seed: seed, initialSequence: 0x7fff_ffff - 700, window: 1024)
            XCTAssertEqual(r.received, expected(3_000_000), "seed \(seed)")
            XCTAssertGreaterThan(r.link.dropped, 50)
        }
    }

    func testLostTailIsRetransmitted() throws {
        // Drop every data packet the first time it is sent from sequence 20 on: only the
        // retransmission timer can recover them (the reference would stall).
        var seen = Set<[UInt8]>()
        let r = try run(size: 30 * 1198, loss: 0) { link in
            link.dropFilter = { bytes, toServer in
                guard toServer, bytes[0] & 0x80 == 0 else { return false }
                let seq = UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])
                _ = seq
                if seen.contains(Array(bytes[0..<4])) { return false }
                seen.insert(Array(bytes[0..<4]))
                return seen.count > 20
            }
        }
        XCTAssertEqual(r.received, expected(30 * 1198))
    }

    func testLostHandshakesAreRetried() throws {
        var handshakes = 0
        let r = try run(size: 5000, loss: 0) { link in
            link.dropFilter = { bytes, _ in
                guard bytes[0] == 0x80, bytes[1] == 0x00 else { return false }
                handshakes += 1
                return handshakes <= 3
            }
        }
        XCTAssertEqual(r.received, expected(5000))
    }

    func testConnectTimeout() throws {
        let client = UDTConnection(role: .client, config: { var c = UDTConnection.Configuration(); c.connectTimeout = 1; return c }(),
                                   now: 0) { _ in }
        client.start(now: 0)
        for i in 1...1500 { client.tick(now: Double(i) * 0.001) }
        XCTAssertEqual(client.state, .closed("connect timeout"))
    }

    /// Full ACKs carry the arrival rate and link capacity a reference sender paces itself by:
    /// the median-filtered rate of the last 16 arrivals, and of the 16n -> 16n+1 packet pairs.
    func testArrivalEstimates() {
        var e = ArrivalEstimator()
        XCTAssertNil(e.packetsPerSecond, "no estimate before two intervals")
        var t = 1.0
        for seq in 0..<64 as Range<UInt32> {
            // 100 µs apart, except the second packet of each pair (10 µs after the first) and
            // one stall of 50 ms, which the median filter drops.
            t += seq & 0xf == 1 ? 0.000_01 : (seq == 40 ? 0.05 : 0.000_1)
            e.record(sequence: seq, at: t)
        }
        let rate = Double(e.packetsPerSecond ?? 0), capacity = Double(e.linkCapacity ?? 0)
        XCTAssertEqual(rate, 10_000, accuracy: 1_500, "about one packet per 100 µs")
        XCTAssertEqual(capacity, 100_000, accuracy: 5_000, "pairs 10 µs apart")
        // Sequence numbers wrap at 31 bits: the pair after 0x7fff_fff0 is 0x7fff_fff0 -> 0x7fff_fff1.
        var w = ArrivalEstimator()
        for (i, seq) in [0x7fff_ffef, 0x7fff_fff0, 0x7fff_fff1, 0x7fff_fff2].enumerated() { w.record(sequence: UInt32(seq), at: Double(i) * 0.001) }
        XCTAssertNotNil(w.packetsPerSecond)
    }

    func testHostilePacketsDoNotBreakAConnection() throws {
        let link = VirtualLink()
        let received = Mutex(0)
        let client = UDTConnection(role: .client, now: 0) { link.send($0.bytes, toServer: true) }
        let server = UDTConnection(role: .server, now: 0) { link.send($0.bytes, toServer: false) }
        server.onData = { b in received.withLock { $0 += b.count } }
        client.start(now: 0)
        client.write([UInt8](repeating: 7, count: 50_000))
        client.finish()
        var rng = SystemRandomNumberGenerator()
        for step in 1...5000 {
            link.now = Double(step) * 0.001
            let due = link.queue.filter { $0.at <= link.now }
            link.queue.removeAll { $0.at <= link.now }
            for p in due { if p.toServer { server.receive(p.bytes, now: link.now) } else { client.receive(p.bytes, now: link.now) } }
            // Garbage and out-of-window data at the receiver.
            server.receive((0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, now: link.now)
            client.tick(now: link.now)
            server.tick(now: link.now)
            if case .closed = client.state { break }
        }
        XCTAssertGreaterThanOrEqual(received.withLock { $0 }, 50_000)
    }

    func testSequenceArithmeticWraps() {
        XCTAssertEqual(Seq.add(Seq.mask, 1), 0)
        XCTAssertEqual(Seq.diff(Seq.mask, 0), 1)
        XCTAssertEqual(Seq.diff(0, Seq.mask), -1)
        XCTAssertEqual(Seq.diff(5, 3), -2)
        // A connection whose sequence numbers wrap mid-transfer.
        let link = VirtualLink()
        let got = Mutex<[UInt8]>([])
        let client = UDTConnection(role: .client, initialSequence: Seq.mask - 10, now: 0) { link.send($0.bytes, toServer: true) }
        let server = UDTConnection(role: .server, now: 0) { link.send($0.bytes, toServer: false) }
        server.onData = { b in got.withLock { $0 += b } }
        client.start(now: 0)
        let data = (0..<60_000).map { UInt8(truncatingIfNeeded: $0) }
        client.write(data)
        client.finish()
        for step in 1...5000 {
            link.now = Double(step) * 0.001
            let due = link.queue.filter { $0.at <= link.now }
            link.queue.removeAll { $0.at <= link.now }
            for p in due { if p.toServer { server.receive(p.bytes, now: link.now) } else { client.receive(p.bytes, now: link.now) } }
            client.tick(now: link.now)
            server.tick(now: link.now)
        }
        XCTAssertEqual(got.withLock { $0 }, data)
    }
}
