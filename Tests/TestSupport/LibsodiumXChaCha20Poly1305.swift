import CSodium

/// XChaCha20-Poly1305 (IETF) as libsodium computes it: the oracle the transfer fast path is
/// checked against (the product computes the same bytes with OpenSSL's ChaCha20-Poly1305 under
/// an HChaCha20 subkey; see `TransferCipher`).
public enum LibsodiumXChaCha20Poly1305 {
    public static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8]) -> [UInt8] {
        precondition(key.count == 32 && nonce.count == 24)
        _ = sodium_init()
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(&out, &length, plaintext, UInt64(plaintext.count), nil, 0, nil, nonce, key)
        return out
    }
}
