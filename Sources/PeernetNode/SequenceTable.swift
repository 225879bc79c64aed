import PeernetCrypto
import PeernetProtocol

/// What a reply to a request is for (network.md §5.2 "purpose tag").
enum RequestPurpose: Sendable {
    /// Only refreshes peer data (keep-alive pings, empty "ping announcements").
    case none
    /// A bootstrap FIND_SELF: contact the peers it returns (§8.3).
    case bootstrap
    /// Someone awaits the reply parts (requests, lookups, pings).
    case awaiting(@Sendable (Result<[Response], NodeError>) -> Void)
    case awaitingPong(@Sendable (Result<Double, NodeError>) -> Void)
    /// A reply to an extension command (our own messages; reference nodes ignore them).
    case awaitingExtension(@Sendable (Result<[UInt8], NodeError>) -> Void)
}

/// Open unidirectional sequences, keyed by (peer, sequence number). Entries expire; the node's
/// tick sweeps them and fails their waiters with a timeout.
struct SequenceTable {
    struct Key: Hashable { let peer: PublicKey; let sequence: UInt32 }
    struct Entry {
        let created: Double
        var expires: Double
        var purpose: RequestPurpose
        var parts: [Response] = []
        var answered = false
    }

    private(set) var entries: [Key: Entry] = [:]
    /// A bound on open sequences, so a lookup storm cannot grow the table without limit.
    let capacity = 100_000

    mutating func open(peer: PublicKey, sequence: UInt32, now: Double, timeout: Double, purpose: RequestPurpose) -> Bool {
        guard entries.count < capacity else { return false }
        entries[Key(peer: peer, sequence: sequence)] = Entry(created: now, expires: now + timeout, purpose: purpose)
        return true
    }

    /// Matches a Response part. Returns the entry (with the part appended) and whether the
    /// sequence is complete; nil if the sequence is unknown or expired (the reply is dropped).
    mutating func matchResponse(peer: PublicKey, sequence: UInt32, response: Response, now: Double,
                                partTimeout: Double) -> (entry: Entry, complete: Bool, rtt: Double?)? {
        let key = Key(peer: peer, sequence: sequence)
        guard var entry = entries[key], entry.expires >= now else { return nil }
        let rtt = entry.answered ? nil : now - entry.created
        entry.answered = true
        entry.parts.append(response)
        if response.sequenceLast {
            entries[key] = nil
            return (entry, true, rtt)
        }
        entry.expires = now + partTimeout
        entries[key] = entry
        return (entry, false, rtt)
    }

    /// Matches and consumes an extension reply.
    mutating func matchExtension(peer: PublicKey, sequence: UInt32, now: Double) -> Entry? {
        let key = Key(peer: peer, sequence: sequence)
        guard let entry = entries[key], entry.expires >= now, case .awaitingExtension = entry.purpose else { return nil }
        entries[key] = nil
        return entry
    }

    /// Matches and consumes a Pong.
    mutating func matchPong(peer: PublicKey, sequence: UInt32, now: Double) -> (entry: Entry, rtt: Double)? {
        let key = Key(peer: peer, sequence: sequence)
        guard let entry = entries[key], entry.expires >= now else { return nil }
        entries[key] = nil
        return (entry, now - entry.created)
    }

    /// Removes and returns expired entries.
    mutating func sweep(now: Double) -> [Entry] {
        let expired = entries.filter { $0.value.expires < now }
        for key in expired.keys { entries[key] = nil }
        return Array(expired.values)
    }

    mutating func removeAll() -> [Entry] {
        defer { entries = [:] }
        return Array(entries.values)
    }
}
