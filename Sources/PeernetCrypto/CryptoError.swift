/// Why a cryptographic operation refused its input.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A private key is not 32 bytes, or not a scalar in [1, n-1].
    case invalidPrivateKey
    /// Text meant to be hex is not, or has the wrong length.
    case invalidHex(expectedBytes: Int?)
    /// Bytes that do not encode a point on secp256k1 (33-byte compressed or 65-byte uncompressed).
    case invalidPublicKey
    /// A signature is not 65 bytes, its header byte is outside 27...34, or r/s are out of range.
    case invalidSignature
    /// The public key could not be recovered from the signature and hash.
    case recoveryFailed
    /// A digest handed to sign/recover is not 32 bytes.
    case invalidDigestLength(Int)
    /// The system's random number generator failed.
    case randomFailure

    public var description: String {
        switch self {
        case .invalidPrivateKey: return "invalid private key: expected 32 bytes forming a secp256k1 scalar in [1, n-1]"
        case .invalidHex(let n):
            if let n { return "invalid hex: expected \(n * 2) hex digits (\(n) bytes)" }
            return "invalid hex: expected an even number of hex digits"
        case .invalidPublicKey: return "invalid public key: not a secp256k1 point in 33-byte compressed or 65-byte uncompressed form"
        case .invalidSignature: return "invalid signature: expected 65 bytes with header 27...34 and r, s in range"
        case .recoveryFailed: return "public key recovery failed for this signature and hash"
        case .invalidDigestLength(let n): return "invalid digest length \(n): expected 32 bytes"
        case .randomFailure: return "the system random number generator failed"
        }
    }
}
