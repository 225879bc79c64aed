/// Errors of the support layer, each with a message that says what to do next.
public enum SupportError: Error, CustomStringConvertible, Equatable {
    case identityUnreadable(path: String, reason: String)
    case identityCorrupt(path: String)
    case writeFailed(path: String, reason: String)
    case dataDirectoryNotADirectory(path: String)

    public var description: String {
        switch self {
        case .identityUnreadable(let path, let reason):
            return "cannot read the identity key \(path): \(reason)"
        case .identityCorrupt(let path):
            return "the identity key \(path) is not 64 hex digits of a valid secp256k1 key; restore it from a backup, or move it away to create a new identity"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .dataDirectoryNotADirectory(let path):
            return "the data directory \(path) is a file, not a folder; move the file away, or choose another folder with --data-dir"
        }
    }
}
