import CSodium

/// Salsa20/20 with a 64-bit nonce (the original variant, not XSalsa20), through libsodium.
///
/// Peernet uses it to obfuscate regular packets: key = receiver's public key X coordinate,
/// nonce = the packet's 4 clear nonce bytes twice.
public enum Salsa20 {
    public static let keyLength = 32
    public static let nonceLength = 8

    /// XORs `buffer` in place with the keystream starting at block `counter` (64-byte blocks).
    public static func xor(_ buffer: UnsafeMutableRawBufferPointer, key: UnsafeRawBufferPointer,
                           nonce: UnsafeRawBufferPointer, counter: UInt64 = 0) {
        precondition(key.count == keyLength && nonce.count == nonceLength)
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        Sodium.ensureInitialized()
        let p = base.assumingMemoryBound(to: UInt8.self)
        _ = crypto_stream_salsa20_xor_ic(p, p, UInt64(buffer.count),
                                         nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), counter,
                                         key.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    /// XORs `bytes` in place with the keystream from position 0.
    public static func xor(_ bytes: inout [UInt8], key: [UInt8], nonce: [UInt8]) {
        key.withUnsafeBytes { k in
            nonce.withUnsafeBytes { n in
                bytes.withUnsafeMutableBytes { xor($0, key: k, nonce: n) }
            }
        }
    }
}

/// One-time libsodium initialisation (thread-safe; sodium_init may be called repeatedly).
enum Sodium {
    private static let initialized: Bool = sodium_init() >= 0
    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise")
    }

    /// Fills `buffer` with bytes from the operating system's CSPRNG.
    static func randomBytes(_ buffer: UnsafeMutableRawBufferPointer) {
        ensureInitialized()
        if let base = buffer.baseAddress, buffer.count > 0 { randombytes_buf(base, buffer.count) }
    }

    /// Overwrites memory in a way the optimiser cannot remove.
    static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        if let base = buffer.baseAddress, buffer.count > 0 { sodium_memzero(base, buffer.count) }
    }
}

/// Cryptographically secure random bytes.
public func secureRandomBytes(_ count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { Sodium.randomBytes($0) }
    return out
}
