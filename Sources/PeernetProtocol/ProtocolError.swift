/// Why a datagram, packet or message was rejected. Every decoder in this module throws only
/// this type: hostile input never traps, hangs or allocates more than the input's size.
public enum ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the structure needs.
    case truncated(what: String, needed: Int, available: Int)
    /// A value that fits in its bytes but is not allowed (with the reason).
    case invalidField(what: String, reason: String)
    /// Text that must be UTF-8 is not.
    case invalidUTF8(what: String)
    /// A peer ID that does not parse as a secp256k1 public key.
    case invalidPublicKey(what: String)
    /// The packet signature could not be parsed or no key could be recovered.
    case badSignature
    /// The packet header's protocol version is not 0.
    case unsupportedVersion(UInt8)
    /// The packet was signed with the receiver's own key (a loop-back of its own packet).
    case ownPacket
    /// An embedded file whose BLAKE3 hash differs from its announced hash.
    case hashMismatch
    /// An encoder was asked to produce something larger than the wire allows.
    case tooLarge(what: String, size: Int, limit: Int)

    public var description: String {
        switch self {
        case .truncated(let what, let needed, let available):
            return "\(what): truncated (needs \(needed) bytes, has \(available))"
        case .invalidField(let what, let reason): return "\(what): \(reason)"
        case .invalidUTF8(let what): return "\(what): not valid UTF-8"
        case .invalidPublicKey(let what): return "\(what): not a valid secp256k1 public key"
        case .badSignature: return "packet signature invalid: no public key recoverable"
        case .unsupportedVersion(let v): return "unsupported protocol version \(v) (only 0 exists)"
        case .ownPacket: return "packet signed with our own key (loop-back)"
        case .hashMismatch: return "embedded file data does not match its hash"
        case .tooLarge(let what, let size, let limit): return "\(what): \(size) bytes exceeds the limit of \(limit)"
        }
    }
}
