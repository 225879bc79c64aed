/// The receiver's estimates that full UDT ACKs carry (transfer.md §6): the packet arrival rate
/// and the link capacity, in packets per second, computed as UDT does it: the median of the last
/// 16 samples, samples beyond 8x or below 1/8 of it dropped, the rest averaged.
///
/// Why it matters: a reference sender (UDT's native congestion control) sets its sending period
/// from these figures once slow start ends. Without them (the short ACK form) it falls back to
/// a 16-packet window and a rate that grows by 1 % per 10 ms: 3.9 MB/s from a reference holder
/// on loopback, measured, against 30 MB/s between reference nodes. Our own sender ignores them.
///
/// `record` runs for every data packet, so samples go into fixed rings (no allocation, no
/// shifting); the median is computed only when an ACK asks.
struct ArrivalEstimator {
    /// The last 16 samples of one kind, oldest overwritten first.
    struct Ring {
        private var slots = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        private var next = 0
        private(set) var count = 0

        mutating func push(_ value: Double) {
            withUnsafeMutableBytes(of: &slots) { $0.storeBytes(of: value, toByteOffset: next * 8, as: Double.self) }
            next = (next + 1) & 15
            count = min(count + 1, 16)
        }

        var values: [Double] { withUnsafeBytes(of: slots) { Array($0.bindMemory(to: Double.self).prefix(count)) } }
    }

    /// Intervals between consecutive data packets.
    private var intervals = Ring()
    /// Packet-pair intervals: from packet 16n to packet 16n + 1, which a UDT sender sends back to
    /// back, so their spacing shows what the link can carry.
    private var pairs = Ring()
    private var last: (sequence: UInt32, time: Double)?

    mutating func record(sequence: UInt32, at now: Double) {
        if let last {
            let gap = now - last.time
            intervals.push(gap)
            if sequence & 0xf == 1 && Seq.add(last.sequence, 1) == sequence { pairs.push(gap) }
        }
        last = (sequence, now)
    }

    var packetsPerSecond: UInt32? { Self.rate(intervals.values, needMajority: true) }
    var linkCapacity: UInt32? { Self.rate(pairs.values, needMajority: false) }

    /// Median-filtered rate; with `needMajority`, nil unless more than half the samples pass
    /// the filter (UDT's rule for the arrival rate).
    private static func rate(_ samples: [Double], needMajority: Bool) -> UInt32? {
        guard samples.count >= 2 else { return nil }
        let median = samples.sorted()[samples.count / 2]
        let kept = samples.filter { $0 < median * 8 && $0 > median / 8 }
        guard !needMajority || kept.count > samples.count / 2 else { return nil }
        // Intervals below a microsecond (packets read in one burst) count as one microsecond.
        let sum = kept.reduce(0) { $0 + max($1, 1e-6) }
        guard !kept.isEmpty, sum > 0 else { return nil }
        return UInt32(min(Double(kept.count) / sum, Double(UInt32.max)))
    }
}
