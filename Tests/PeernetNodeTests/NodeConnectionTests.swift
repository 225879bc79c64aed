import Foundation
import PeernetCrypto
@testable import PeernetNode
import PeernetProtocol
import TestSupport
import XCTest

final class NodeConnectionTests: XCTestCase {
    func testTwoNodesMeetThroughARootPeerAndPing() async throws {
        let root = try TestNet.node()
        let a = try TestNet.node(roots: [root])
        let b = try TestNet.node(roots: [root])
        await eventually(5, "A and B connected to the root") { a.isConnected(root.publicKey) && b.isConnected(root.publicKey) }
        // The root's FIND_SELF answers introduce A and B to each other (bootstrap spread).
        await eventually(5, "A and B met") { a.isConnected(b.publicKey) && b.isConnected(a.publicKey) }
        let rtt = try await a.ping(b.publicKey)
        XCTAssertGreaterThan(rtt, 0)
        XCTAssertLessThan(rtt, 1)
        let info = try XCTUnwrap(a.peer(b.publicKey))
        XCTAssertEqual(info.userAgent, "Peernet Swift/0.1")
        XCTAssertTrue(info.connections.contains { $0.portInternal == b.listenEndpoints[0].port }, "B's reported port arrived")
        XCTAssertTrue(try XCTUnwrap(a.peer(root.publicKey)).isRoot)
        for n in [a, b, root] { await n.stop() }
    }

    /// Extension requests (our commands beyond the reference's) go only to peers of our kind:
    /// a peer whose user agent names another implementation is refused at once, instead of a
    /// request it would drop and a wait for the timeout. Ours still answer.
    func testExtensionRequestsSkipOtherImplementations() async throws {
        let command = Command(rawValue: 40)
        let ours = try TestNet.node()
        let other = try TestNet.node { $0.userAgent = "Peernet Reference Interop/1.0" }
        // Payload byte 0: odd for requests, even for replies.
        for n in [ours, other] { n.registerExtension(command) { _ in [2, 9] } }
        let a = try TestNet.node(roots: [ours, other])
        a.registerExtension(command) { _ in nil }
        await eventually(5, "connected") { a.isConnected(ours.publicKey) && a.isConnected(other.publicKey) }
        await eventually(5, "user agents known") { a.peer(other.publicKey)?.userAgent.isEmpty == false }
        let reply = try await a.requestExtension(command, payload: [1], to: ours.publicKey, timeout: 5)
        XCTAssertEqual(reply, [2, 9])
        let started = Date()
        do {
            _ = try await a.requestExtension(command, payload: [1], to: other.publicKey, timeout: 5)
            XCTFail("another implementation was asked")
        } catch {
            XCTAssertEqual(error, .extensionUnsupported)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "refused without waiting for a reply")
        for n in [a, ours, other] { await n.stop() }
    }

    func testAnnouncementAndResponseCarryBlockchainHeightAndVersion() async throws {
        let a = try TestNet.node()
        let b = try TestNet.node()
        b.setBlockchain(height: 7, version: 3)
        var events = a.events.makeAsyncIterator()
        a.contact(b.publicKey, at: b.listenEndpoints)
        await eventually(5, "connected") { a.isConnected(b.publicKey) }
        XCTAssertEqual(a.peer(b.publicKey)?.blockchainHeight, 7)
        XCTAssertEqual(a.peer(b.publicKey)?.blockchainVersion, 3)
        // A later change reaches A through the periodic empty "ping announcement".
        b.setBlockchain(height: 8, version: 4)
        var sawChange = false
        let deadline = Date().addingTimeInterval(6)
        while Date() < deadline, let event = await events.next() {
            if event == .blockchainChanged(b.publicKey, height: 8, version: 4) { sawChange = true; break }
        }
        XCTAssertTrue(sawChange, "blockchainChanged(8, 4) event")
        XCTAssertEqual(a.peer(b.publicKey)?.blockchainHeight, 8)
        await a.stop()
        await b.stop()
    }

    /// A peer of another implementation never announces its chain changes: its height and
    /// version are asked for more often (here 0.5 s) than those of our own nodes (here 30 s),
    /// also while its own pings keep the connection busy (A never needs to ping B here).
    func testForeignPeersChainIsRefreshedSooner() async throws {
        var timings = NodeTimings.fastForTests
        timings.blockchainRefresh = 30
        timings.pingInterval = 3
        timings.invalidateAfter = 10
        let a = try TestNet.node { $0.timings = timings }
        // B pings A often; its own refresh of A (its announcements carry its header) is slow.
        var chatty = NodeTimings.fastForTests
        chatty.blockchainRefresh = 30
        chatty.pingInterval = 0.1
        let b = try TestNet.node { $0.userAgent = "Peernet Reference Interop/1.0"; $0.timings = chatty }
        a.contact(b.publicKey, at: b.listenEndpoints)
        await eventually(5, "connected, user agent known") { a.peer(b.publicKey)?.userAgent.isEmpty == false }
        // Changed without an announcement, as a reference node changes its chain.
        b.state.withLock { $0.blockchainHeight = 9; $0.blockchainVersion = 2 }
        await eventually(5, "A asked B again") { a.peer(b.publicKey)?.blockchainHeight == 9 }
        XCTAssertEqual(a.peer(b.publicKey)?.blockchainVersion, 2)
        await a.stop()
        await b.stop()
    }

    func testSilentPeerIsDroppedAndARestartedPeerReturns() async throws {
        // Removal timings of its own: gone after 2 s of silence, forgotten after 4 s.
        let removal: (inout NodeConfig) -> Void = {
            $0.timings.invalidateAfter = 2
            $0.timings.removeInactiveAfter = 3
            $0.timings.forgetPeerAfter = 4
        }
        let a = try TestNet.node(configure: removal)
        let bKey = PrivateKey()
        var b = try TestNet.node(key: bKey)
        let bPort = b.listenEndpoints[0].port
        a.contact(b.publicKey, at: b.listenEndpoints)
        await eventually(5, "connected") { a.isConnected(bKey.publicKey) }
        // Idle but alive: keep-alive pings keep the connection up well past the invalidation time.
        try await Task.sleep(for: .seconds(2.5))
        XCTAssertTrue(a.isConnected(bKey.publicKey), "keep-alive holds an idle connection")
        await b.stop()
        await eventually(5, "silent peer marked disconnected") { !a.isConnected(bKey.publicKey) }
        await eventually(8, "silent peer forgotten") { a.peer(bKey.publicKey) == nil }
        // Same identity, same port: B comes back and A takes it in again.
        b = try TestNet.node(key: bKey, port: bPort)
        b.contact(a.publicKey, at: a.listenEndpoints)
        await eventually(5, "restarted peer reconnected") { a.isConnected(bKey.publicKey) }
        _ = try await a.ping(bKey.publicKey)
        await a.stop()
        await b.stop()
    }

    func testRequestToUnknownPeerFailsClearlyAndTimesOut() async throws {
        let a = try TestNet.node()
        let ghost = PrivateKey().publicKey
        do {
            _ = try await a.ping(ghost)
            XCTFail("ping of an unknown peer succeeded")
        } catch {
            XCTAssertEqual(error, .notConnected(ghost))
        }
        // An address where nobody listens: the request times out within the reply timeout.
        let silent = try UDPSocket(bind: Endpoint("127.0.0.1:0")!)
        let start = Date()
        do {
            _ = try await a.request(Announcement(header: MessageHeader(), findSelf: true), to: ghost, at: [silent.localEndpoint], timeout: 0.5)
            XCTFail("request to a silent address succeeded")
        } catch {
            XCTAssertEqual(error, .timeout)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        await a.stop()
        do {
            _ = try await a.ping(ghost)
            XCTFail("ping after stop")
        } catch {
            XCTAssertEqual(error, .stopped)
        }
    }

    func testChatAndEvents() async throws {
        let a = try TestNet.node()
        let b = try TestNet.node()
        var events = b.events.makeAsyncIterator()
        a.contact(b.publicKey, at: b.listenEndpoints)
        await eventually(5, "connected") { a.isConnected(b.publicKey) }
        try a.chat("hello from A", to: b.publicKey)
        var got: String?
        while let e = await events.next() {
            if case .chat(let from, let text) = e, from == a.publicKey { got = text; break }
        }
        XCTAssertEqual(got, "hello from A")
        await a.stop()
        await b.stop()
    }
}
