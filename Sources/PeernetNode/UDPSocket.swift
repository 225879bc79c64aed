#if canImport(Glibc)
import Glibc
#endif
import CLinuxCalls
import Foundation
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

    /// The kernel coalesces datagrams of one flow for this socket (UDP GRO): batch receives
    /// then split them again. Asked for with `coalesce`; false where the kernel lacks it.
    public let coalesces: Bool
    /// UDP GSO still works here (cleared at the first refusal: sends go one by one then).
    private let segmentation = Atomic<Bool>(true)
    /// Whether batch sends still use UDP GSO.
    public var segments: Bool { segmentation.load(ordering: .relaxed) }
    /// Datagrams handed to the kernel one by one plus GSO sends (each one packet through the
    /// stack): what batching saves shows here (tests, benchmarks).
    public let kernelSends = Atomic<Int>(0)

    public init(bind endpoint: Endpoint, broadcast: Bool = false, reusePort: Bool = false,
                receiveTimeoutMillis: Int = 200, bufferBytes: Int32 = 4 << 20, coalesce: Bool = false) throws {
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
        coalesces = coalesce && Self.batching && peernet_udp_enable_gro(fd) == 0
        if !Self.batching { segmentation.store(false, ordering: .relaxed) }
    }

    /// PEERNET_SOCKET_BATCHING=0 turns GSO, GRO and multi-datagram calls off (for comparing).
    static let batching = ProcessInfo.processInfo.environment["PEERNET_SOCKET_BATCHING"] != "0"

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
        let sent = bytes.withUnsafeBytes { raw in
            endpoint.withSockaddr { sa, len in
                sendto(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), sa, len) == raw.count
            }
        }
        if sent { kernelSends.add(1, ordering: .relaxed) }
        return sent
    }

    /// Largest GSO send: 64 datagrams and 65,000 bytes (under the 65,507 a UDP send may carry).
    static let maxSegments = 64, maxSegmentedBytes = 65_000
    /// Datagrams up to this size are segmented on any path (they fit a 1,500-byte MTU); larger
    /// ones only on loopback, whose MTU is 64 KiB (the kernel refuses segments over the MTU).
    static let segmentSafeSize = 1_472

    /// Sends datagrams to one address in as few system calls as the kernel allows: runs of
    /// equal-size datagrams (the last of a run may be shorter) as one UDP GSO send, the rest by
    /// sendmmsg. Never blocks; returns how many datagrams the kernel took.
    @discardableResult
    public func send(batch datagrams: [[UInt8]], to endpoint: Endpoint) -> Int {
        guard datagrams.count > 1, Self.batching else {
            return datagrams.reduce(0) { $0 + (send($1, to: endpoint) ? 1 : 0) }
        }
        var sent = 0
        var i = 0
        let loopback = endpoint.ip.isLoopback
        /// Whether a GSO run of two or more may start at `j`.
        func startsRun(_ j: Int) -> Bool {
            let size = datagrams[j].count
            return segmentation.load(ordering: .relaxed) && size > 0 && (loopback || size <= Self.segmentSafeSize)
                && j + 1 < datagrams.count && datagrams[j + 1].count <= size && size + datagrams[j + 1].count <= Self.maxSegmentedBytes
        }
        while i < datagrams.count {
            let size = datagrams[i].count
            var end = i + 1
            if startsRun(i) {
                var bytes = size
                while end < datagrams.count && end - i < Self.maxSegments && bytes + datagrams[end].count <= Self.maxSegmentedBytes
                        && datagrams[end].count <= size {
                    bytes += datagrams[end].count
                    end += 1
                    if datagrams[end - 1].count < size { break }   // a shorter one ends the run
                }
            }
            if end - i >= 2, let n = sendSegments(datagrams[i..<end], size: size, to: endpoint) {
                sent += n
            } else {
                // Up to where a run can start: a small control packet ahead of a window's data
                // (an ACK2 before the packets an ACK let go) once sent the whole batch this way,
                // one datagram per packet, and the compatible mode's 1 GiB download took 4 times
                // the datagrams and 1.6x the CPU.
                end = i + 1
                while end < datagrams.count && end - i < 64 && !startsRun(end) { end += 1 }
                sent += sendEach(datagrams[i..<end], to: endpoint)
            }
            i = end
        }
        return sent
    }

    /// One GSO send; nil when the kernel refuses segmentation (then never tried again).
    private func sendSegments(_ run: ArraySlice<[UInt8]>, size: Int, to endpoint: Endpoint) -> Int? {
        // Gathered by the kernel (an iovec per datagram): joining them into one buffer first
        // copied every byte sent once more.
        let n = withDatagramPointers(run) { pointers, lengths in
            endpoint.withSockaddr { sa, len in peernet_udp_send_segments(fd, pointers, lengths, Int32(run.count), UInt16(size), sa, len) }
        }
        if n >= 0 {
            kernelSends.add(1, ordering: .relaxed)
            return run.count
        }
        switch errno {
        case EAGAIN, ENOBUFS, ECONNREFUSED: return 0   // full or refused: dropped, as UDP may
        default:
            segmentation.store(false, ordering: .relaxed)
            return nil
        }
    }

    /// sendmmsg of up to 64 datagrams.
    private func sendEach(_ run: ArraySlice<[UInt8]>, to endpoint: Endpoint) -> Int {
        let n = withDatagramPointers(run) { pointers, lengths in
            endpoint.withSockaddr { sa, len in peernet_udp_send_batch(fd, pointers, lengths, Int32(run.count), sa, len) }
        }
        kernelSends.add(max(0, Int(n)), ordering: .relaxed)
        return max(0, Int(n))
    }

    /// Calls `body` with each datagram's address and length, for a system call that reads them
    /// in place.
    private func withDatagramPointers<R>(_ run: ArraySlice<[UInt8]>,
                                         _ body: (UnsafePointer<UnsafeRawPointer?>, UnsafePointer<Int>) -> R) -> R {
        let pointers = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: run.count)
        let lengths = UnsafeMutablePointer<Int>.allocate(capacity: run.count)
        defer { pointers.deallocate(); lengths.deallocate() }
        // The arrays' storage stays alive (and unmoved) for the call: they are held by `run`.
        return withExtendedLifetime(run) {
            for (k, d) in run.enumerated() {
                pointers[k] = d.withUnsafeBytes { $0.baseAddress.map { UnsafeRawPointer($0) } }
                lengths[k] = d.count
            }
            return body(pointers, lengths)
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

/// Batch receiving for one thread: recvmmsg into `count` buffers, then each datagram (or each
/// segment of a coalesced one) handed to the caller in order. Buffers are reused.
public final class UDPBatchReceiver {
    let socket: UDPSocket
    private let buffers: UnsafeMutableRawBufferPointer
    private let sources: UnsafeMutablePointer<sockaddr_storage>
    private var datagrams: [peernet_datagram]
    static let bufferSize = 65_536

    public init(socket: UDPSocket, count: Int = 32) {
        self.socket = socket
        let n = UDPSocket.batching ? max(1, min(count, 64)) : 1
        buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: n * Self.bufferSize, alignment: 64)
        sources = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: n)
        sources.initialize(repeating: sockaddr_storage(), count: n)
        let base = buffers.baseAddress!, addresses = sources, size = Self.bufferSize
        datagrams = (0..<n).map { i in
            peernet_datagram(buffer: base + i * size, capacity: size, length: 0, segment: 0, source: addresses + i)
        }
    }

    deinit {
        buffers.deallocate()
        sources.deallocate()
    }

    /// Waits (up to the socket's receive timeout) and handles what arrived; false on timeout
    /// or error. The bytes passed to `handle` are valid only during the call.
    @discardableResult
    public func receive(_ handle: (UnsafeRawBufferPointer, Endpoint) -> Void) -> Bool {
        let n = datagrams.withUnsafeMutableBufferPointer { peernet_udp_receive_batch(socket.fd, $0.baseAddress, Int32($0.count)) }
        guard n > 0 else { return false }
        for i in 0..<Int(n) {
            let d = datagrams[i]
            guard let from = Endpoint(storage: d.source) else { continue }
            let all = UnsafeRawBufferPointer(start: d.buffer, count: d.length)
            let segment = Int(d.segment)
            if segment > 0 && segment < d.length {
                var offset = 0
                while offset < d.length {
                    let end = min(offset + segment, d.length)
                    handle(UnsafeRawBufferPointer(rebasing: all[offset..<end]), from)
                    offset = end
                }
            } else {
                handle(all, from)
            }
        }
        return true
    }
}
