import PeernetCrypto

/// A 32-byte value: a BLAKE3 hash, a DHT node ID or key, a file hash.
public struct Hash256: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// The bytes in one call: the synthesized version feeds the hasher one byte at a time
    /// (measured: a visible share of a download's CPU, where these key dictionaries per packet).
    public func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }

    /// Wraps exactly 32 bytes; anything else is a programming error at the call site.
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses 64 hex digits.
    public init?(hex: String) {
        guard let b = try? Hex.decode(hex, expectedBytes: 32) else { return nil }
        self.bytes = b
    }

    /// BLAKE3-256 of `data`.
    public static func blake3(_ data: some Sequence<UInt8>) -> Hash256 { Hash256(unchecked: BLAKE3.hash(data)) }

    /// The node ID of a peer: BLAKE3 of its compressed public key.
    public static func nodeID(of key: PublicKey) -> Hash256 { Hash256(unchecked: key.nodeID) }

    public static let zero = Hash256(unchecked: [UInt8](repeating: 0, count: 32))

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    /// Lexicographic (big-endian) order, as XOR distances compare.
    public static func < (a: Hash256, b: Hash256) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    /// The XOR distance to `other` (Kademlia).
    public func distance(to other: Hash256) -> Hash256 {
        Hash256(unchecked: zip(bytes, other.bytes).map { $0 ^ $1 })
    }
}

extension ByteReader {
    package mutating func publicKey(_ field: String) throws(ProtocolError) -> PublicKey {
        let raw = try take(33, field)
        do { return try PublicKey(bytes: raw) } catch { throw .invalidPublicKey(what: "\(what) \(field)") }
    }
}
