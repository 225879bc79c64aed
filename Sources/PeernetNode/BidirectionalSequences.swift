import PeernetCrypto
import PeernetProtocol

/// Open bidirectional sequences of transfers (network.md §5.3): Transfer and Get Block
/// messages after the request-start carry the requester's sequence number in both directions.
/// Each valid message pushes the expiry forward; a "last" control ends the sequence. Messages
/// for unknown or expired sequences are dropped.
struct BidirectionalSequences {
    struct Key: Hashable { let peer: PublicKey; let sequence: UInt32 }
    struct Entry {
        var expires: Double
        let timeout: Double
        let handler: @Sendable (ReceivedPacket, Endpoint) -> Void
        let onExpire: @Sendable () -> Void
    }
    private(set) var entries: [Key: Entry] = [:]
    let capacity = 10_000

    /// Registers a sequence; an existing one is replaced and told it expired.
    mutating func open(peer: PublicKey, sequence: UInt32, now: Double, timeout: Double,
                       handler: @escaping @Sendable (ReceivedPacket, Endpoint) -> Void,
                       onExpire: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)? {
        guard entries.count < capacity else { return nil }
        let key = Key(peer: peer, sequence: sequence)
        let replaced = entries[key]?.onExpire
        entries[key] = Entry(expires: now + timeout, timeout: timeout, handler: handler, onExpire: onExpire)
        return replaced ?? {}
    }

    /// The handler for a message on an open sequence (its expiry refreshed), removing the
    /// sequence when `last`; nil when the sequence is unknown or expired.
    mutating func deliver(peer: PublicKey, sequence: UInt32, last: Bool, now: Double) -> (@Sendable (ReceivedPacket, Endpoint) -> Void)? {
        let key = Key(peer: peer, sequence: sequence)
        guard var entry = entries[key], entry.expires >= now else { return nil }
        if last {
            entries[key] = nil
        } else {
            entry.expires = now + entry.timeout
            entries[key] = entry
        }
        return entry.handler
    }

    mutating func close(peer: PublicKey, sequence: UInt32) {
        entries[Key(peer: peer, sequence: sequence)] = nil
    }

    mutating func sweep(now: Double) -> [@Sendable () -> Void] {
        let expired = entries.filter { $0.value.expires < now }
        for key in expired.keys { entries[key] = nil }
        return expired.values.map(\.onExpire)
    }
}
