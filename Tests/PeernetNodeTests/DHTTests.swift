import Foundation
import PeernetCrypto
@testable import PeernetNode
import PeernetProtocol
import TestSupport
import XCTest

final class DHTTests: XCTestCase {
    func testRoutingTableBucketsAndEviction() {
        let own = Hash256.blake3([1])
        var table = RoutingTable(own: own, bucketSize: 2)
        XCTAssertEqual(table.bucketIndex(own), 0)
        var flipped = own.bytes
        flipped[0] ^= 0x80
        XCTAssertEqual(table.bucketIndex(Hash256(flipped)!), 255)
        flipped = own.bytes
        flipped[31] ^= 0x01
        XCTAssertEqual(table.bucketIndex(Hash256(flipped)!), 0)
        for index in [0, 7, 100, 255] {
            XCTAssertEqual(table.bucketIndex(table.randomID(inBucket: index)), index)
        }
        // A full bucket keeps its oldest unless told to evict; the newcomer waits as replacement.
        let ids = (0..<3).map { _ in table.randomID(inBucket: 200) }
        table.seen(ids[0]) { _ in false }
        table.seen(ids[1]) { _ in false }
        XCTAssertNil(table.seen(ids[2]) { _ in false })
        XCTAssertFalse(table.contains(ids[2]))
        table.remove(ids[0]) { _ in true }
        XCTAssertTrue(table.contains(ids[2]), "replacement promoted")
        // Seeing a node again moves it to the tail (least recently seen first).
        table.seen(ids[1]) { _ in false }
        XCTAssertEqual(table.buckets[200], [ids[2], ids[1]])
        XCTAssertEqual(table.seen(ids[0]) { $0 == ids[2] }, ids[2], "evicts when the oldest is unreachable")
    }

    /// 50 real nodes on loopback bootstrapped from one root: every node's lookup of 20 random
    /// IDs returns exactly the true 20 closest nodes of the whole set.
    func testFiftyNodesFindTheTrueClosest() async throws {
        // 50 nodes share two cores: keep-alive at a calmer pace than the 2-node tests.
        let calm: (inout NodeConfig) -> Void = {
            $0.timings.pingInterval = 4
            $0.timings.invalidateAfter = 12
            $0.timings.blockchainRefresh = 60
            $0.timings.lookupRoundTimeout = 2
            $0.timings.lookupTimeout = 15
            $0.workers = 1
        }
        let root = try TestNet.node(configure: calm)
        var all = [root]
        for _ in 1..<50 { all.append(try TestNet.node(roots: [root], configure: calm)) }
        let nodes = all
        let byID = Dictionary(uniqueKeysWithValues: nodes.map { ($0.nodeID, $0.publicKey) })
        // Bootstrap: every node reaches a handful of peers, and the Kademlia bootstrap fills tables.
        await eventually(30, "routing tables filled") {
            nodes.allSatisfy { $0.routingTableSize >= 10 && $0.state.withLock { $0.kademliaBootstrapped } }
        }
        var failures: [String] = []
        await withTaskGroup(of: [String].self) { group in
            for node in nodes {
                group.addTask {
                    var bad: [String] = []
                    for _ in 0..<20 {
                        let target = Hash256((0..<32).map { _ in UInt8.random(in: 0...255) })!
                        let expected = byID.keys.filter { $0 != node.nodeID }
                            .sorted { $0.distance(to: target) < $1.distance(to: target) }.prefix(20).map { byID[$0]! }
                        let found = await node.lookupNode(target)
                        if found != Array(expected) {
                            bad.append("node \(node.nodeID.hex.prefix(8)) target \(target.hex.prefix(8)): found \(found.count), "
                                       + "\(Set(found).intersection(expected).count) of 20 right")
                        }
                    }
                    return bad
                }
            }
            for await bad in group { failures += bad }
        }
        XCTAssertTrue(failures.isEmpty, "\(failures.count) of 1000 lookups wrong:\n" + failures.prefix(10).joined(separator: "\n"))
        for n in nodes { await n.stop() }
    }

    func testValuesAreStoredAtTheClosestNodesAndFoundByOthers() async throws {
        let root = try TestNet.node()
        var all = [root]
        for _ in 1..<12 { all.append(try TestNet.node(roots: [root])) }
        let nodes = all
        await eventually(20, "tables filled") { nodes.allSatisfy { $0.routingTableSize >= 5 } }
        let value = Array("a value published in the DHT".utf8)
        let stored = await nodes[3].storeValue(value)
        let hash = try XCTUnwrap(stored?.hash)
        XCTAssertGreaterThan(stored?.informed ?? 0, 3)
        // The informed nodes fetch it from the owner (INFO_STORE -> FIND_VALUE).
        await eventually(5, "value replicated") { nodes.filter { $0.hasValue(hash) }.count >= 4 }
        // The owner leaves; another node still finds the value, verified against its hash.
        await nodes[3].stop()
        let found = await nodes[9].findValue(hash)
        XCTAssertEqual(found, value)
        let missing = await nodes[9].findValue(Hash256.blake3([0xde, 0xad]))
        XCTAssertNil(missing)
        for (i, n) in nodes.enumerated() where i != 3 { await n.stop() }
    }

    /// A request's source address is not verified, so a forged one aims the reply at a victim.
    /// Before, a 300-byte Announcement naming four stored 60 KB values made the node send
    /// 240 KB to the forged address; now large replies wait for a ping round trip, which only
    /// the real requester completes.
    func testLargeRepliesGoOnlyToProvedAddresses() async throws {
        let holder = try TestNet.node()
        var hashes: [Hash256] = []
        for i in 0..<4 {
            let value = [UInt8](repeating: UInt8(i), count: 60_000)
            let stored = await holder.storeValue(value)
            hashes.append(try XCTUnwrap(stored?.hash))
        }
        // The victim: a socket that never answers. The attacker signs with a fresh key.
        let victim = try UDPSocket(bind: Endpoint("127.0.0.1:0")!, receiveTimeoutMillis: 100)
        defer { victim.close() }
        let header = MessageHeader(features: [.ipv4Listen], blockchainHeight: 0, blockchainVersion: 0, portInternal: 1, userAgent: "x")
        let ask = Announcement(header: header, findValue: hashes).encode(sendUserAgent: true)[0]
        let packet = try PacketCodec.encode(Packet(command: .announcement, sequence: 7, payload: ask), sender: PrivateKey(),
                                            receiver: holder.publicKey)
        XCTAssertTrue(victim.send(packet, to: holder.listenEndpoints[0]))
        var received = 0, largest = 0
        var buffer = [UInt8](repeating: 0, count: 70_000)
        let until = Date().addingTimeInterval(1.5)
        while Date() < until {
            if let (n, _) = buffer.withUnsafeMutableBytes({ victim.receive(into: $0) }) { received += n; largest = max(largest, n) }
        }
        // Only pings reach it (the proof asked for, then keep-alives while the forged peer is
        // not yet judged gone: 3 s in the suites' timings), never a piece of the 240 KB.
        XCTAssertLessThan(largest, 1_200, "the forged source got a \(largest)-byte datagram for a \(packet.count)-byte request")
        XCTAssertLessThan(received, 4_000, "the forged source got \(received) bytes for a \(packet.count)-byte request")
        XCTAssertEqual(holder.statistics.repliesHeldForVerification, 1)

        // An honest node answers the ping and gets the value.
        let asker = try TestNet.node(roots: [holder])
        await eventually(10, "connected") { asker.routingTableSize >= 1 }
        let found = await asker.findValue(hashes[2])
        XCTAssertEqual(found, [UInt8](repeating: 2, count: 60_000))
        await asker.stop()
        await holder.stop()
    }

    /// Each INFO_STORE record makes the node fetch the value from its announcer in a job.
    /// Before, every job's handle was kept for the node's life: a peer that announces and never
    /// answers grew the node's memory without bound (the stateful fuzz target hit 1.5 GB).
    func testBackgroundJobsAreBoundedAndForgottenWhenDone() async throws {
        let node = try TestNet.node()
        let base = node.backgroundTaskCount
        let silent = try UDPSocket(bind: Endpoint("127.0.0.1:0")!, receiveTimeoutMillis: 10)
        defer { silent.close() }
        let announcer = PrivateKey().publicKey
        let header = MessageHeader(features: [.ipv4Listen], blockchainHeight: 0, blockchainVersion: 0, portInternal: 1, userAgent: "x")
        for i in 0..<3_000 {
            let stores = (0..<4).map { InfoStoreRecord(hash: Hash256.blake3([UInt8(i & 0xff), UInt8(i >> 8), UInt8($0)]), size: 10) }
            let payload = Announcement(header: header, infoStore: stores).encode(sendUserAgent: true)[0]
            node.handleAuthenticated(ReceivedPacket(packet: Packet(command: .announcement, sequence: UInt32(i), payload: payload), sender: announcer),
                                     source: silent.localEndpoint, network: 0)
        }
        XCTAssertLessThanOrEqual(node.backgroundTaskCount, Node.maxBackgroundTasks)
        await eventually(30, "the fetches timed out and their jobs are gone") { node.backgroundTaskCount <= base }
        await node.stop()
    }
}
