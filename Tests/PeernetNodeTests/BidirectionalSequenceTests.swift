import Foundation
import PeernetCrypto
@testable import PeernetNode
import PeernetProtocol
import Synchronization
import TestSupport
import XCTest

final class BidirectionalSequenceTests: XCTestCase {
    /// A requester opens a sequence; the server's messages on it arrive until a last control;
    /// messages on unknown sequences and after the end are dropped; an idle sequence expires.
    func testTransferMessagesFollowTheirSequence() async throws {
        let a = try TestNet.node()
        let b = try TestNet.node()
        a.contact(b.publicKey, at: b.listenEndpoints)
        await eventually(5, "connected") { a.isConnected(b.publicKey) && b.isConnected(a.publicKey) }
        let requests = Mutex<[TransferMessage]>([])
        b.setTransferHandler { received, _, _ in
            if let m = try? TransferMessage.decode(received.packet.payload) { requests.withLock { $0.append(m) } }
        }
        let got = Mutex<[TransferMessage.Control]>([])
        let expired = Mutex(false)
        let seq = a.nextSequence(for: b.publicKey)
        // 5 s, not 0.5 s: under two CPU hogs the request's round trip alone took longer, the
        // sequence expired, and the server's messages on it were dropped (a batch run). The
        // expiry is tested below, on an idle sequence.
        XCTAssertTrue(a.openBidirectionalSequence(peer: b.publicKey, sequence: seq, timeout: 5, handler: { received, _ in
            if let m = try? TransferMessage.decode(received.packet.payload) { got.withLock { $0.append(m.control) } }
        }, onExpire: { expired.withLock { $0 = true } }))
        let hash = Hash256.blake3([1])
        let request = TransferMessage.request(hash: hash, offset: 0, limit: 0, transferID: .random())
        try a.sendPacket(Packet(command: .transfer, sequence: seq, payload: try request.encode()), to: b.publicKey)
        await eventually(3, "request-start reached the server") { requests.withLock { $0.count } == 1 }
        var active = TransferMessage(control: .active, hash: hash)
        active.data = [1, 2, 3]
        try b.sendPacket(Packet(command: .transfer, sequence: seq, payload: try active.encode()), to: a.publicKey)
        try b.sendPacket(Packet(command: .transfer, sequence: seq &+ 1, payload: try active.encode()), to: a.publicKey)  // unknown
        // The end only once the data arrived: A's two receive workers may handle two packets
        // in either order, and a terminate taken first ends the sequence before the data
        // (seen under two CPU hogs: only [terminate] arrived).
        await eventually(3, "active delivered") { got.withLock { $0 } == [.active] }
        try b.sendPacket(Packet(command: .transfer, sequence: seq, payload: try TransferMessage(control: .terminate, hash: hash).encode()),
                         to: a.publicKey)
        await eventually(3, "active + terminate delivered") { got.withLock { $0 } == [.active, .terminate] }
        try b.sendPacket(Packet(command: .transfer, sequence: seq, payload: try active.encode()), to: a.publicKey)  // after the end
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(got.withLock { $0 }, [.active, .terminate])
        XCTAssertFalse(expired.withLock { $0 }, "a closed sequence does not expire")
        // An idle sequence expires after its timeout.
        let idle = a.nextSequence(for: b.publicKey)
        _ = a.openBidirectionalSequence(peer: b.publicKey, sequence: idle, timeout: 0.3, handler: { _, _ in },
                                        onExpire: { expired.withLock { $0 = true } })
        await eventually(3, "idle sequence expired") { expired.withLock { $0 } }
        await a.stop()
        await b.stop()
    }

    func testIPv6Loopback() async throws {
        func v6() throws -> Node {
            var c = TestNet.config()
            c.listen = [Endpoint("[::1]:0")!]
            let n = try Node(key: PrivateKey(), config: c)
            n.start()
            return n
        }
        let a: Node, b: Node
        do { a = try v6(); b = try v6() } catch {
            throw XCTSkip("no IPv6 loopback here: \(error)")
        }
        a.contact(b.publicKey, at: b.listenEndpoints)
        await eventually(5, "connected over ::1") { a.isConnected(b.publicKey) }
        _ = try await a.ping(b.publicKey)
        XCTAssertTrue(a.peer(b.publicKey)?.connections.first?.remote.hasPrefix("[::1]:") ?? false)
        XCTAssertEqual(a.peer(b.publicKey)?.features, 0x02, "B announces IPv6_LISTEN only")
        await a.stop()
        await b.stop()
    }

    /// The transfer handler was stored bare in a Mutex, and each request read it through a
    /// new pair of thunks: the calls slowed down without bound and the stack overflowed.
    /// Before the fix, this crashed after a few thousand requests on a 256 KiB stack.
    func testTransferRequestsDoNotDeepenTheHandlerCall() throws {
        let node = try TestNet.node()
        let calls = Mutex(0)
        node.setTransferHandler { _, _, _ in calls.withLock { $0 += 1 } }
        let sender = PrivateKey().publicKey
        let request = try TransferMessage.request(hash: Hash256.blake3([1]), offset: 0, limit: 0, transferID: .random()).encode()
        let source = Endpoint("127.0.0.1:9")!
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            for i in 0..<20_000 {
                node.handleAuthenticated(ReceivedPacket(packet: Packet(command: .transfer, sequence: UInt32(i), payload: request), sender: sender),
                                         source: source, network: 0)
            }
            done.signal()
        }
        thread.stackSize = 256 * 1024
        thread.start()
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(calls.withLock { $0 }, 20_000)
        let stopped = DispatchSemaphore(value: 0)
        Task { await node.stop(); stopped.signal() }
        stopped.wait()
    }
}
