import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PeernetCrypto
@testable import PeernetWebAPI
import TestSupport
import XCTest

/// APITimeoutRead and APITimeoutWrite: a client that sends no request, sends its head too
/// slowly, or stops reading a response holds nothing of the node's for longer than that.
final class WebAPITimeoutTests: XCTestCase {
    /// A raw TCP client with a small receive buffer (so a response it does not read backs up).
    final class RawClient {
        let fd: Int32
        init(port: UInt16) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var small: Int32 = 16_384
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            var timeout = timeval(tv_sec: 15, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let r = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard r == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
        }
        deinit { close(fd) }
        func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        /// Reads until end of stream (or the 15 s receive timeout): bytes read, and whether the
        /// server closed the connection.
        func drain() -> (bytes: Int, closed: Bool) {
            var total = 0
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { total += n; continue }
                if n < 0 && errno == EINTR { continue }
                return (total, n == 0 || errno == ECONNRESET)
            }
        }
    }

    func testIdleSlowAndStalledClientsAreCutOff() async throws {
        let peer = try APIPeer()
        let server = WebAPIServer(runtime: peer.runtime, configuration: WebAPIConfiguration(listen: ["127.0.0.1:0"], readTimeout: 0.5, writeTimeout: 2))
        try await server.start()
        let port = server.boundEndpoints.withLock { $0 }[0].port

        let (idle, slow) = try await onThread { () throws -> ((bytes: Int, closed: Bool), (bytes: Int, closed: Bool)) in
            // No request at all.
            let idle = try RawClient(port: port).drain()
            // A request head that never ends.
            let slowClient = try RawClient(port: port)
            slowClient.send("GET /test HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            let slow = slowClient.drain()
            return (idle, slow)
        }
        XCTAssertTrue(idle.closed, "an idle connection is closed after APITimeoutRead")
        XCTAssertEqual(idle.bytes, 0)
        XCTAssertTrue(slow.closed, "a request head that does not arrive is given up")

        // A response the client stops reading: 16 MiB of our own content, far more than the
        // socket buffers hold.
        var content = [UInt8](repeating: 0, count: 16 << 20)
        for i in stride(from: 0, to: content.count, by: 4096) { content[i] = UInt8(truncatingIfNeeded: i >> 12) }
        let hash = try peer.runtime.store.warehouse.importData(content).hash
        let received = try await onThread { () throws -> (Int, Bool) in
            let client = try RawClient(port: port)
            client.send("GET /warehouse/read?hash=\(hash.hex) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            usleep(6_000_000)   // not reading: the server's writes wait, then give up (after 2 s)
            return client.drain()
        }
        XCTAssertTrue(received.1, "the stalled response's connection is closed")
        XCTAssertLessThan(received.0, content.count, "and the response was given up, not finished")

        // The server still answers everyone else.
        let ok = try await http("http://127.0.0.1:\(port)/test")
        XCTAssertEqual(ok.status, 200)
        // A reader that keeps reading gets all of it, although it takes longer than the timeouts.
        let whole = try await http("http://127.0.0.1:\(port)/warehouse/read?hash=\(hash.hex)")
        XCTAssertEqual(whole.body.count, content.count)
        await server.stop()
        await peer.stop()
    }
}
