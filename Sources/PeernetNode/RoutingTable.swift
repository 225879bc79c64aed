import PeernetProtocol

/// The Kademlia routing table: 256 buckets of at most `bucketSize` node IDs, each bucket in
/// least-recently-seen order (oldest first). Unlike the reference, nodes move to the tail when
/// seen again, eviction prefers keeping responsive low-RTT nodes, lookups sort by true XOR
/// distance, and removed nodes are replaced from a per-bucket replacement cache.
struct RoutingTable {
    let own: Hash256
    let bucketSize: Int
    private(set) var buckets: [[Hash256]]
    private var replacements: [[Hash256]]

    init(own: Hash256, bucketSize: Int) {
        self.own = own
        self.bucketSize = bucketSize
        buckets = Array(repeating: [], count: 256)
        replacements = Array(repeating: [], count: 256)
    }

    /// 255 - (index of the first bit, from the MSB, where `id` differs from our ID); 0 if equal.
    func bucketIndex(_ id: Hash256) -> Int {
        for i in 0..<32 {
            let x = id.bytes[i] ^ own.bytes[i]
            if x != 0 { return 255 - (i * 8 + x.leadingZeroBitCount) }
        }
        return 0
    }

    var count: Int { buckets.reduce(0) { $0 + $1.count } }
    func contains(_ id: Hash256) -> Bool { buckets[bucketIndex(id)].contains(id) }

    /// Records that `id` was seen. A known node moves to the tail. A new node is appended if
    /// there is room; in a full bucket `shouldEvict(oldest)` decides whether the oldest goes
    /// (it is unreachable or slower); otherwise the new node waits in the replacement cache.
    /// Returns the evicted node, if any.
    @discardableResult
    mutating func seen(_ id: Hash256, shouldEvict: (Hash256) -> Bool) -> Hash256? {
        guard id != own else { return nil }
        let b = bucketIndex(id)
        if let i = buckets[b].firstIndex(of: id) {
            buckets[b].remove(at: i)
            buckets[b].append(id)
            return nil
        }
        if buckets[b].count < bucketSize {
            buckets[b].append(id)
            replacements[b].removeAll { $0 == id }
            return nil
        }
        if let oldest = buckets[b].first, shouldEvict(oldest) {
            buckets[b].removeFirst()
            buckets[b].append(id)
            return oldest
        }
        replacements[b].removeAll { $0 == id }
        replacements[b].append(id)
        if replacements[b].count > bucketSize { replacements[b].removeFirst() }
        return nil
    }

    /// Removes a node; the newest replacement that `isAlive` takes its place.
    mutating func remove(_ id: Hash256, isAlive: (Hash256) -> Bool) {
        let b = bucketIndex(id)
        buckets[b].removeAll { $0 == id }
        replacements[b].removeAll { $0 == id }
        while let candidate = replacements[b].popLast() {
            if isAlive(candidate) {
                buckets[b].append(candidate)
                break
            }
        }
    }

    /// The `count` known nodes closest to `target` by XOR distance, closest first.
    func closest(to target: Hash256, count: Int, where include: (Hash256) -> Bool = { _ in true }) -> [Hash256] {
        var all: [(Hash256, Hash256)] = []
        for bucket in buckets { for id in bucket where include(id) { all.append((id.distance(to: target), id)) } }
        all.sort { $0.0 < $1.0 }
        return all.prefix(count).map(\.1)
    }

    /// Bucket indices with fewer than `target` nodes (all buckets when target is 0).
    func sparseBuckets(below target: Int) -> [Int] {
        (0..<256).filter { target == 0 || buckets[$0].count < target }
    }

    /// A random ID that falls into bucket `index` (the reference builds IDs of the wrong length
    /// here, so its refresh sends nothing for most buckets).
    func randomID(inBucket index: Int) -> Hash256 {
        var bytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let bit = 255 - index          // the first differing bit, from the MSB
        for i in 0..<32 {
            for j in 0..<8 {
                let position = i * 8 + j
                let mask = UInt8(0x80) >> j
                if position < bit {
                    bytes[i] = (bytes[i] & ~mask) | (own.bytes[i] & mask)
                } else if position == bit {
                    bytes[i] = (bytes[i] & ~mask) | (~own.bytes[i] & mask)
                }
            }
        }
        return Hash256(bytes)!
    }
}
