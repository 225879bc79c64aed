#if canImport(Glibc)
import Glibc
#endif
import PeernetProtocol
import Synchronization

/// Errors of the socket layer, with the system's reason.
public enum SocketError: Error, CustomStringConvertible, Equatable {
    case create(String)
    case bind(Endpoint, String)
    case send(Endpoint, String)

    public var description: String {
        switch self {
        case .create(let r): return "cannot create a UDP socket: \(r)"
        case .bind(let e, let r): return "cannot listen on \(e): \(r) (is another node using that port?)"
        case .send(let e, let r): return "cannot send to \(e): \(r)"
        }
    }
}

/// A bound UDP socket (POSIX). Receives block with a short timeout so the owner can stop the
/// receive thread; sends never block (a full socket buffer drops the datagram, as UDP may).
public final class UDPSocket: @unchecked Sendable {
    let fd: Int32
    /// The address actually bound (the port is filled in when 0 was asked for).
    public let localEndpoint: Endpoint

    public init(bind endpoint: Endpoint, broadcast: Bool = false, reusePort: Bool = false,
                receiveTimeoutMillis: Int = 200, bufferBytes: Int32 = 4 << 20) throws {
        let family = endpoint.ip.isIPv4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.create(String(cString: strerror(errno))) }
        var one: Int32 = 1
        if !endpoint.ip.isIPv4 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(4)) }
        if broadcast { setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, socklen_t(4)) }
        if reusePort {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(4))
        }
        var size = bufferBytes
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(4))
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(4))
        var tv = timeval(tv_sec: receiveTimeoutMillis / 1000, tv_usec: (receiveTimeoutMillis % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = endpoint.withSockaddr { Glibc.bind(fd, $0, $1) }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw SocketError.bind(endpoint, reason)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        localEndpoint = Endpoint(storage: &storage) ?? endpoint
    }

    private let closed = Mutex(false)

    deinit { close() }

    /// Closes the socket (idempotent). Call only once no thread is receiving on it.
    public func close() {
        let wasOpen = closed.withLock { c in defer { c = true }; return !c }
        if wasOpen { Glibc.close(fd) }
    }

    /// Sends one datagram; returns false if the kernel refused it (the reason is in errno).
    @discardableResult
    public func send(_ bytes: [UInt8], to endpoint: Endpoint) -> Bool {
        bytes.withUnsafeBytes { raw in
            endpoint.withSockaddr { sa, len in
                sendto(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), sa, len) == raw.count
            }
        }
    }

    /// Receives one datagram into `buffer`; nil on timeout or error.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, from: Endpoint)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                recvfrom(fd, buffer.baseAddress, buffer.count, 0, $0, &length)
            }
        }
        guard n >= 0, let from = Endpoint(storage: &storage) else { return nil }
        return (n, from)
    }

    /// Joins an IPv6 multicast group on all interfaces (LAN discovery).
    public func joinIPv6Multicast(_ group: IPv6Address) -> Bool {
        var mreq = ipv6_mreq()
        withUnsafeMutableBytes(of: &mreq.ipv6mr_multiaddr) { $0.copyBytes(from: group.bytes) }
        mreq.ipv6mr_interface = 0
        var loop: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_LOOP, &loop, socklen_t(4))
        return setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_ADD_MEMBERSHIP, &mreq, socklen_t(MemoryLayout<ipv6_mreq>.size)) == 0
    }
}
