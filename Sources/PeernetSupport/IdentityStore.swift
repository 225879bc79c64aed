import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PeernetCrypto

/// The node's private key, kept as 64 hex digits in `identity.key` (mode 0600) in the data
/// directory. The same text format as the reference client's `PrivateKey` config value, so a key
/// can be carried over in either direction.
public struct IdentityStore: Sendable {
    public static let fileName = "identity.key"
    public let dataDirectory: DataDirectory

    public init(dataDirectory: DataDirectory) { self.dataDirectory = dataDirectory }

    public var keyURL: URL { dataDirectory.file(Self.fileName) }

    /// Loads the identity, or returns nil if none exists yet.
    public func load() throws -> PrivateKey? {
        let path = keyURL.path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        dataDirectory.tighten()
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o077 != 0 {
            let warning = "peernet: warning: the identity key \(path) is readable by other users (mode \(String(st.st_mode & 0o777, radix: 8))); anyone who reads it can act as you. Fix: chmod 600 \(path)\n"
            _ = warning.withCString { Glibc.write(2, $0, strlen($0)) }
        }
        let text: String
        do {
            text = try String(contentsOf: keyURL, encoding: .utf8)
        } catch {
            throw SupportError.identityUnreadable(path: path, reason: error.localizedDescription)
        }
        do {
            return try PrivateKey(hex: text)
        } catch {
            throw SupportError.identityCorrupt(path: path)
        }
    }

    /// Loads the identity, creating and saving a new one if none exists.
    /// Returns the key and whether it was created by this call.
    public func loadOrCreate() throws -> (key: PrivateKey, created: Bool) {
        if let key = try load() { return (key, false) }
        try dataDirectory.create()
        let key = PrivateKey()
        try save(key)
        return (key, true)
    }

    /// Saves `key` atomically with mode 0600.
    public func save(_ key: PrivateKey) throws {
        try dataDirectory.create()
        try AtomicFile.write(Array((key.hexString + "\n").utf8), to: keyURL, mode: 0o600)
    }
}
