import CSodium

/// XChaCha20-Poly1305 (IETF) through libsodium: the encrypted transfer fast path between two
/// nodes of this implementation.
public enum AEAD {
    public static let keyLength = 32
    public static let nonceLength = 24
    public static let tagLength = 16

    /// Encrypts and authenticates `plaintext` (nonce must never repeat for a key).
    public static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], additional: [UInt8] = []) -> [UInt8] {
        precondition(key.count == keyLength && nonce.count == nonceLength)
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        var length: UInt64 = 0
        _ = out.withUnsafeMutableBufferPointer { o in
            crypto_aead_xchacha20poly1305_ietf_encrypt(o.baseAddress!, &length, plaintext, UInt64(plaintext.count),
                                                       additional, UInt64(additional.count), nil, nonce, key)
        }
        return out
    }

    /// Decrypts and checks; nil if the data or tag was tampered with.
    public static func open(_ ciphertext: ArraySlice<UInt8>, key: [UInt8], nonce: [UInt8], additional: [UInt8] = []) -> [UInt8]? {
        precondition(key.count == keyLength && nonce.count == nonceLength)
        guard ciphertext.count >= tagLength else { return nil }
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagLength)
        var length: UInt64 = 0
        let rc = ciphertext.withUnsafeBufferPointer { c in
            out.withUnsafeMutableBufferPointer { o in
                crypto_aead_xchacha20poly1305_ietf_decrypt(o.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!, &length, nil, c.baseAddress!, UInt64(c.count),
                                                           additional, UInt64(additional.count), nonce, key)
            }
        }
        return rc == 0 ? out : nil
    }
}
