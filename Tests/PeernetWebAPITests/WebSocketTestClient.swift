import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal RFC 6455 client over a blocking TCP socket, for tests: the handshake, masked text
/// frames out, unmasked text frames in (fragments and control frames beyond close are not
/// needed by the API's websockets).
final class WebSocketTestClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects and upgrades; throws when the server refuses (the status line is in the error).
    init(port: UInt16, path: String, headers: [String: String] = [:]) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { close(fd); throw Failure.refused("connect: \(errno)") }
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        try send(Array(("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
                       + headers.map { "\($0.key): \($0.value)\r\n" }.joined() + "\r\n").utf8))
        var head: [UInt8] = []
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            head.append(try byte())
            if head.count > 8192 { throw Failure.refused("header too long") }
        }
        let status = String(decoding: head, as: UTF8.self).split(separator: "\r\n").first.map(String.init) ?? ""
        guard status.contains(" 101 ") else { close(fd); throw Failure.refused(status) }
    }

    deinit { close(fd) }

    enum Failure: Error, Equatable { case refused(String), closed }

    func sendText(_ text: String) throws {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        if payload.count < 126 { frame.append(0x80 | UInt8(payload.count)) } else {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try send(frame)
    }

    /// The next text message; nil when the server closes.
    func receiveText() throws -> String? {
        while true {
            let first = try byte(), second = try byte()
            var length = UInt64(second & 0x7f)
            if length == 126 { length = UInt64(try byte()) << 8 | UInt64(try byte()) } else if length == 127 {
                length = 0
                for _ in 0..<8 { length = length << 8 | UInt64(try byte()) }
            }
            var payload: [UInt8] = []
            for _ in 0..<length { payload.append(try byte()) }
            switch first & 0x0f {
            case 0x1: return String(decoding: payload, as: UTF8.self)
            case 0x8: return nil
            default: continue
            }
        }
    }

    private func send(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            guard n > 0 else { throw Failure.closed }
            done += n
        }
    }

    private func byte() throws -> UInt8 {
        if buffer.isEmpty {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure.closed }
            buffer = Array(chunk[0..<n].reversed())
        }
        return buffer.removeLast()
    }
}

/// Runs blocking socket work on a thread of its own (never on the Swift pool, which the node
/// and the server need meanwhile).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { done in
        Thread.detachNewThread { done.resume(with: Result { try body() }) }
    }
}
