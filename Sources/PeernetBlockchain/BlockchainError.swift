/// Why a block, record or chain was refused. Blocks come from strangers: every reason is
/// specific enough to log and to decide whom to distrust.
public enum BlockchainError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(String)
    case sizeMismatch(declared: Int, actual: Int)
    case badSignature
    case wrongOwner
    case brokenLink(block: UInt64)
    case wrongNumber(expected: UInt64, got: UInt64)
    case wrongVersion(expected: UInt64, got: UInt64)
    case tooLarge(String, size: Int, limit: Int)
    case invalidRecord(index: Int, reason: String)
    case invalidTag(record: Int, reason: String)
    case corrupt(String)
    case notFound(String)

    public var description: String {
        switch self {
        case .truncated(let what): return "\(what) is truncated"
        case .sizeMismatch(let d, let a): return "block size field says \(d) bytes but the block has \(a)"
        case .badSignature: return "block signature invalid: no public key recoverable"
        case .wrongOwner: return "block signed by another key than the chain's owner"
        case .brokenLink(let b): return "block \(b) does not link to the previous block's hash"
        case .wrongNumber(let e, let g): return "block number \(g) where \(e) was expected"
        case .wrongVersion(let e, let g): return "block version \(g) where \(e) was expected"
        case .tooLarge(let what, let size, let limit): return "\(what) of \(size) exceeds the limit of \(limit)"
        case .invalidRecord(let i, let r): return "record \(i): \(r)"
        case .invalidTag(let i, let r): return "record \(i): tag \(r)"
        case .corrupt(let m): return "corrupt: \(m)"
        case .notFound(let m): return "not found: \(m)"
        }
    }
}
