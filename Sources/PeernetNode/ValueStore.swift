import PeernetProtocol

/// The local part of the DHT value store: values by BLAKE3 hash, with expiry and limits.
/// Values we published ourselves ("owned") never expire and are republished by the node.
struct ValueStore {
    struct Value {
        let data: [UInt8]
        var expires: Double
        let owned: Bool
        var lastPublished: Double
    }

    private(set) var values: [Hash256: Value] = [:]
    private(set) var totalBytes = 0
    let maxValues: Int
    let maxValueSize: Int
    let maxTotalBytes: Int

    init(maxValues: Int, maxValueSize: Int) {
        self.maxValues = maxValues
        self.maxValueSize = maxValueSize
        self.maxTotalBytes = maxValues * 4096
    }

    func get(_ hash: Hash256) -> [UInt8]? { values[hash]?.data }
    func has(_ hash: Hash256) -> Bool { values[hash] != nil }

    /// Stores `data` under its hash. Refuses values that are too large or would exceed the
    /// limits (values of others only; our own always fit if they are small enough).
    @discardableResult
    mutating func put(_ data: [UInt8], now: Double, expiry: Double, owned: Bool) -> Hash256? {
        guard data.count <= maxValueSize else { return nil }
        let hash = Hash256.blake3(data)
        if var existing = values[hash] {
            existing.expires = max(existing.expires, now + expiry)
            if owned && !existing.owned {
                values[hash] = Value(data: data, expires: .infinity, owned: true, lastPublished: 0)
            } else {
                values[hash] = existing
            }
            return hash
        }
        if !owned && (values.count >= maxValues || totalBytes + data.count > maxTotalBytes) { return nil }
        values[hash] = Value(data: data, expires: owned ? .infinity : now + expiry, owned: owned, lastPublished: 0)
        totalBytes += data.count
        return hash
    }

    mutating func remove(_ hash: Hash256) {
        if let v = values.removeValue(forKey: hash) { totalBytes -= v.data.count }
    }

    mutating func expire(now: Double) {
        for (hash, v) in values where v.expires < now { remove(hash) }
    }

    /// Owned values due for republishing; marks them published now.
    mutating func dueForRepublish(now: Double, interval: Double) -> [Hash256] {
        var due: [Hash256] = []
        for (hash, v) in values where v.owned && now - v.lastPublished >= interval {
            values[hash]?.lastPublished = now
            due.append(hash)
        }
        return due
    }
}
