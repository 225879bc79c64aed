import Foundation
import Synchronization

/// A datagram waiting for decoding: bytes, source, and which local network received it.
struct InboundDatagram: Sendable {
    let bytes: [UInt8]
    let source: Endpoint
    let network: Int
    let discovery: Bool
}

/// A bounded multi-producer multi-consumer queue between the receive threads and the decode
/// workers. When full, new datagrams are dropped (UDP semantics) and counted; the per-source
/// rate limit in front of it keeps one flooding peer from filling it alone.
final class DatagramQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [InboundDatagram] = []
    private var head = 0
    private var closed = false
    let capacity: Int
    /// Bound in bytes as well as in datagrams: memory is what a flood exhausts.
    let capacityBytes: Int
    private(set) var queuedBytes = 0
    private(set) var dropped = 0

    init(capacity: Int, capacityBytes: Int = Int.max) {
        self.capacity = capacity
        self.capacityBytes = capacityBytes
        items.reserveCapacity(min(capacity, 1024))
    }

    /// Returns false (and drops) when the queue is full (in datagrams or bytes) or closed.
    @discardableResult
    func push(_ item: InboundDatagram) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, items.count - head < capacity, item.bytes.count <= capacityBytes - queuedBytes else {
            dropped += 1
            return false
        }
        items.append(item)
        queuedBytes += item.bytes.count
        condition.signal()
        return true
    }

    /// Blocks until an item is available; nil once closed and drained.
    func pop() -> InboundDatagram? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        guard head < items.count else { return nil }
        let item = items[head]
        items[head] = InboundDatagram(bytes: [], source: item.source, network: 0, discovery: false)  // its bytes go now
        head += 1
        queuedBytes -= item.bytes.count
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Token buckets per source address (IP and port, so peers behind one NAT or on one host are
/// limited separately): each source may send `rate` datagrams per second with bursts of
/// `burst`. Owned by one receive thread, so it needs no lock. Bounded in size: the oldest
/// buckets are dropped when it grows past `maxSources`.
struct SourceRateLimiter {
    let rate: Double
    let burst: Double
    let maxSources: Int
    private var buckets: [Endpoint: (tokens: Double, last: Double)] = [:]

    init(rate: Double, burst: Double, maxSources: Int = 65536) {
        self.rate = rate
        self.burst = burst
        self.maxSources = maxSources
    }

    mutating func allow(_ source: Endpoint, now: Double) -> Bool {
        var bucket = buckets[source] ?? (burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.last) * rate)
        bucket.last = now
        let ok = bucket.tokens >= 1
        if ok { bucket.tokens -= 1 }
        if buckets.count >= maxSources && buckets[source] == nil {
            // Forget stale sources: keep the map bounded under a spoofed-source flood.
            buckets = buckets.filter { now - $0.value.last < 1 }
            if buckets.count >= maxSources { return ok }
        }
        buckets[source] = bucket
        return ok
    }
}

/// Budgets per host (IP address, whatever the port), in datagrams and in bytes: a host with
/// many ports gets one budget, not one per port. Bounded in size like `SourceRateLimiter`.
struct HostLimiter {
    let rate: Double, burst: Double
    let byteRate: Double, byteBurst: Double
    let maxHosts: Int
    private var buckets: [IPAddress: (datagrams: Double, bytes: Double, last: Double)] = [:]

    init(rate: Double, burst: Double, byteRate: Double, byteBurst: Double, maxHosts: Int = 65536) {
        self.rate = rate
        self.burst = burst
        self.byteRate = byteRate
        self.byteBurst = byteBurst
        self.maxHosts = maxHosts
    }

    mutating func allow(_ host: IPAddress, bytes: Int, now: Double) -> Bool {
        var bucket = buckets[host] ?? (burst, byteBurst, now)
        bucket.datagrams = min(burst, bucket.datagrams + (now - bucket.last) * rate)
        bucket.bytes = min(byteBurst, bucket.bytes + (now - bucket.last) * byteRate)
        bucket.last = now
        let ok = bucket.datagrams >= 1 && bucket.bytes >= Double(bytes)
        if ok {
            bucket.datagrams -= 1
            bucket.bytes -= Double(bytes)
        }
        if buckets.count >= maxHosts && buckets[host] == nil {
            buckets = buckets.filter { now - $0.value.last < 1 }
            if buckets.count >= maxHosts { return ok }
        }
        buckets[host] = bucket
        return ok
    }
}

/// Monotonic seconds.
@inline(__always) func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
