import Foundation
import PeernetCrypto
@testable import PeernetNode
import PeernetProtocol
import TestSupport
import XCTest

/// Traverse (network.md §6.8) with all three roles on loopback: C sits behind a simulated
/// stateful firewall (it accepts datagrams only from addresses it has sent to) and announces
/// the FIREWALL feature; A finds C through the DHT, and its first contact reaches C only as a
/// Traverse relayed by B. C answers A directly, which opens its firewall for A.
final class TraverseTests: XCTestCase {
    func testFirstContactThroughARelay() async throws {
        let b = try TestNet.node()
        let c = try TestNet.node(roots: [b]) { $0.localFirewall = true; $0.simulateFirewallForTesting = true }
        await eventually(5, "C behind its firewall reached B") { b.isConnected(c.publicKey) && c.isConnected(b.publicKey) }
        let a = try TestNet.node(roots: [b])
        await eventually(5, "A reached B") { a.isConnected(b.publicKey) }
        // A's bootstrap contact to C (direct, no Traverse, like the reference) is dropped by C's firewall.
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertFalse(a.isConnected(c.publicKey), "the firewall drops A's direct first contact")
        let found = await a.findPeer(c.nodeID)
        XCTAssertEqual(found, c.publicKey, "C answered A's Traverse-relayed lookup")
        XCTAssertTrue(a.isConnected(c.publicKey))
        // C's answer opened its firewall for A: direct traffic works from now on. (C answers
        // A's first direct Ping with an Announcement, as the reference does on a connection
        // whose ports it has not learned yet; the next Ping gets its Pong.)
        var rtt: Double?
        for _ in 0..<3 where rtt == nil { rtt = try? await a.ping(c.publicKey, timeout: 0.5) }
        XCTAssertLessThan(try XCTUnwrap(rtt), 1)
        XCTAssertTrue(c.isConnected(a.publicKey))
        for n in [a, b, c] { await n.stop() }
    }

    func testRelayRefusesForgedAndExpiredTraverse() async throws {
        let b = try TestNet.node()
        let c = try TestNet.node(roots: [b]) { $0.simulateFirewallForTesting = true }
        let a = try TestNet.node(roots: [b])
        await eventually(5, "all reached B") { b.isConnected(c.publicKey) && b.isConnected(a.publicKey) && a.isConnected(b.publicKey) }
        let mallory = PrivateKey()
        let inner = try PacketCodec.encode(Packet(command: .announcement, sequence: 9,
                                                  payload: Announcement(header: MessageHeader(features: [.ipv4Listen]), findSelf: true).encode(sendUserAgent: true)[0]),
                                           sender: mallory, receiver: c.publicKey)
        // Signed by Mallory but sent by A: the relay must not forward it.
        let forged = try Traverse.signed(by: mallory, target: c.publicKey, relay: b.publicKey, expires: UInt64(Date().timeIntervalSince1970) + 600,
                                         embeddedPacket: inner)
        try a.sendPacket(Packet(command: .traverse, sequence: 0, payload: forged.encode()), to: b.publicKey)
        // Expired, and properly signed by A.
        let aInner = try PacketCodec.encode(Packet(command: .announcement, sequence: 9,
                                                   payload: Announcement(header: MessageHeader(features: [.ipv4Listen]), findSelf: true).encode(sendUserAgent: true)[0]),
                                            sender: a.key, receiver: c.publicKey)
        let expired = try Traverse.signed(by: a.key, target: c.publicKey, relay: b.publicKey, expires: 1_000, embeddedPacket: aInner)
        try a.sendPacket(Packet(command: .traverse, sequence: 0, payload: expired.encode()), to: b.publicKey)
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertNil(c.peer(mallory.publicKey))
        XCTAssertEqual(b.statistics.traversesRelayed, 0, "the relay forwarded neither")
        // A valid one is relayed (the counter can count).
        let valid = try Traverse.signed(by: a.key, target: c.publicKey, relay: b.publicKey, expires: UInt64(Date().timeIntervalSince1970) + 600,
                                        embeddedPacket: aInner)
        try a.sendPacket(Packet(command: .traverse, sequence: 0, payload: valid.encode()), to: b.publicKey)
        await eventually(3, "valid traverse relayed") { b.statistics.traversesRelayed == 1 }
        for n in [a, b, c] { await n.stop() }
    }
}
