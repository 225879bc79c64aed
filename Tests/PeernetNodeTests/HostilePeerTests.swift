import Foundation
import PeernetCrypto
@testable import PeernetNode
import PeernetProtocol
import PeernetSupport
import TestSupport
import XCTest

/// Garbage, replayed and forged packets and floods of unknown lite IDs: the node keeps
/// answering its honest peers.
final class HostilePeerTests: XCTestCase {
    func testFloodsDoNotStarveHonestPeers() async throws {
        let a = try TestNet.node { $0.perSourceRate = 2000; $0.perSourceBurst = 2000 }
        let bKey = PrivateKey()
        let b = try TestNet.node(key: bKey)
        b.contact(a.publicKey, at: a.listenEndpoints)
        await eventually(5, "honest peers connected") { a.isConnected(b.publicKey) && b.isConnected(a.publicKey) }

        let attacker = try UDPSocket(bind: Endpoint("127.0.0.1:0")!)
        let target = a.listenEndpoints[0]
        let mallory = PrivateKey()
        // Material: a valid packet from B (replayed many times), forged copies of it, valid
        // packets from a stranger with random sequences, garbage, unknown lite IDs.
        let valid = try PacketCodec.encode(Packet(command: .pong, sequence: 12345), sender: bKey, receiver: a.publicKey)
        var forged = valid
        forged[10] ^= 0x55
        let strangers = try (0..<50).map { _ in
            try PacketCodec.encode(Packet(command: .response, sequence: UInt32.random(in: 0...UInt32.max),
                                          payload: [UInt8](repeating: 0, count: 30)), sender: mallory, receiver: a.publicKey)
        }
        let floodTask = Task.detached {
            var sent = 0
            let end = Date().addingTimeInterval(2.5)
            while Date() < end && sent < 60_000 {
                switch sent % 5 {
                case 0: attacker.send((0..<Int.random(in: 77...600)).map { _ in UInt8.random(in: 0...255) }, to: target)
                case 1: attacker.send(valid, to: target)
                case 2: attacker.send(forged, to: target)
                case 3: attacker.send(strangers[sent % strangers.count], to: target)
                default: attacker.send((0..<40).map { _ in UInt8.random(in: 0...255) }, to: target)  // unknown lite ID
                }
                sent += 1
            }
            return sent
        }
        // While the flood runs, B's pings to A keep working.
        var rtts: [Double] = []
        for _ in 0..<10 {
            rtts.append(try await b.ping(a.publicKey, timeout: 2))
            try await Task.sleep(for: .milliseconds(150))
        }
        let sent = await floodTask.value
        XCTAssertGreaterThan(sent, 1000, "the flood ran")
        XCTAssertEqual(rtts.count, 10)
        XCTAssertLessThan(rtts.max() ?? 9, 1.0, "pings answered promptly during the flood: \(rtts)")
        let stats = a.statistics
        XCTAssertGreaterThan(stats.rateLimited + stats.invalidPackets, 100, "\(stats)")
        // The stranger was registered (one valid packet is a connection), but its unsolicited
        // Responses matched no sequence; B's replayed Pong did not either.
        XCTAssertGreaterThan(stats.repliesUnmatched, 0)
        XCTAssertTrue(a.isConnected(b.publicKey))
        await a.stop()
        await b.stop()
    }

    func testOversizedAndMalformedMessagesFromAConnectedPeerAreHarmless() async throws {
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("pn-hostile-\(UUID().uuidString).log")
        Log.shared.configure(file: logFile, level: .info)
        defer { Log.shared.close(); try? FileManager.default.removeItem(at: logFile) }
        let a = try TestNet.node()
        let evil = PrivateKey()
        let socket = try UDPSocket(bind: Endpoint("127.0.0.1:0")!)
        func send(_ command: Command, _ payload: [UInt8], seq: UInt32 = 1) throws {
            socket.send(try PacketCodec.encode(Packet(command: command, sequence: seq, payload: payload), sender: evil,
                                               receiver: a.publicKey), to: a.listenEndpoints[0])
        }
        // 2000 FIND_PEER keys: the reference would answer with ~780 KB; we answer at most 64 keys.
        let keys = (0..<2000).map { _ in Hash256.blake3([UInt8.random(in: 0...255), UInt8.random(in: 0...255)]) }
        let many = Announcement(header: MessageHeader(features: [.ipv4Listen]), findPeer: keys).encode(sendUserAgent: false)
        for part in many { try send(.announcement, part) }
        // A Response whose UA overruns the counts (crashes Go), a truncated Traverse, junk Transfer.
        var crash = [UInt8](repeating: 0, count: 24)
        crash[23] = 4
        try send(.response, crash + Array("abcd".utf8) + [1, 0])
        try send(.traverse, [UInt8](repeating: 1, count: 100))
        try send(.transfer, [0] + [UInt8](repeating: 0, count: 55))
        try send(Command(rawValue: 77), [1, 2, 3])
        socket.send([UInt8](repeating: 0x5a, count: 300), to: a.listenEndpoints[0])
        var buffer = [UInt8](repeating: 0, count: 65536)
        var replyBytes = 0
        let end = Date().addingTimeInterval(1.5)
        while Date() < end {
            if let (n, _) = buffer.withUnsafeMutableBytes({ socket.receive(into: $0) }) { replyBytes += n }
        }
        XCTAssertGreaterThan(replyBytes, 0, "the announcement was answered")
        XCTAssertLessThan(replyBytes, 64 * 1024, "reply size is bounded (no amplification)")
        // Still alive and answering.
        let b = try TestNet.node()
        b.contact(a.publicKey, at: a.listenEndpoints)
        await eventually(5, "still serving honest peers") { b.isConnected(a.publicKey) }
        _ = try await b.ping(a.publicKey)
        // What was refused is in the log, with the reason.
        let log = try String(contentsOf: logFile, encoding: .utf8)
        XCTAssertTrue(log.contains("rejected: malformed Response message: 30 bytes from"), log)
        XCTAssertTrue(log.contains("rejected: malformed Traverse message"), log)
        XCTAssertTrue(log.contains("rejected: undecodable packet: 300 bytes from 127.0.0.1:"), log)
        await a.stop()
        await b.stop()
    }
}

/// The inbound path's memory and work bounds (issue 14 item 3).
final class InboundBoundsTests: XCTestCase {
    /// The queue is bounded in bytes: 8,192 datagrams of 64 KiB were 512 MiB.
    func testQueueIsBoundedInBytes() {
        let queue = DatagramQueue(capacity: 8192, capacityBytes: 1 << 20)
        var accepted = 0
        for _ in 0..<100 where queue.push(InboundDatagram(bytes: [UInt8](repeating: 1, count: 60_000), source: Endpoint("127.0.0.1:1")!, network: 0, discovery: false)) {
            accepted += 1
        }
        XCTAssertEqual(accepted, 17)
        XCTAssertLessThanOrEqual(queue.queuedBytes, 1 << 20)
        XCTAssertNotNil(queue.pop())
        XCTAssertEqual(queue.queuedBytes, 16 * 60_000, "popped bytes leave the budget")
        XCTAssertTrue(queue.push(InboundDatagram(bytes: [1, 2, 3], source: Endpoint("127.0.0.1:1")!, network: 0, discovery: false)))
    }

    /// One host with 256 ports has one budget, not 256.
    func testOneHostWithManyPortsHasOneBudget() {
        var perPort = SourceRateLimiter(rate: 5000, burst: 10_000)
        var hosts = HostLimiter(rate: 20_000, burst: 40_000, byteRate: 33_554_432, byteBurst: 67_108_864)
        var passedPorts = 0, passedBoth = 0
        let now = 100.0
        for port in 0..<256 {
            let source = Endpoint(ip: IPAddress("127.0.0.2")!, port: UInt16(1000 + port))
            for _ in 0..<100 {   // 100 datagrams of 60 KB from each port, at one instant
                let a = perPort.allow(source, now: now)
                if a { passedPorts += 1 }
                if a && hosts.allow(source.ip, bytes: 60_000, now: now) { passedBoth += 1 }
            }
        }
        XCTAssertEqual(passedPorts, 25_600, "per port, each of the 256 ports has its own budget")
        XCTAssertLessThanOrEqual(passedBoth * 60_000, 64 << 20, "per host: at most the byte burst")
        // Another host is not affected.
        XCTAssertTrue(hosts.allow(IPAddress("127.0.0.3")!, bytes: 60_000, now: now))
    }
}
