import CSodium
import PeernetCrypto
import TestSupport
import XCTest

/// OpenSSL's ChaCha20-Poly1305 against libsodium's, byte for byte: the transfer fast path
/// computes libsodium's XChaCha20-Poly1305 bytes with it, so any difference breaks the wire.
final class ChaCha20Poly1305Tests: XCTestCase {
    private func random(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255) } }

    private func seal(_ aead: ChaCha20Poly1305, _ plain: [UInt8], _ nonce: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plain.count + 16)
        plain.withUnsafeBytes { p in nonce.withUnsafeBytes { n in out.withUnsafeMutableBytes { aead.seal(p, nonce: n, into: $0) } } }
        return out
    }

    private func open(_ aead: ChaCha20Poly1305, _ sealed: [UInt8], _ nonce: [UInt8]) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: max(0, sealed.count - 16))
        let ok = sealed.withUnsafeBytes { s in nonce.withUnsafeBytes { n in out.withUnsafeMutableBytes { aead.open(s, nonce: n, into: $0) } } }
        return ok ? out : nil
    }

    func testSameBytesAsLibsodiumIETF() throws {
        _ = sodium_init()
        let key = random(32)
        let sealer = try XCTUnwrap(ChaCha20Poly1305(key: key, mode: .seal))
        let opener = try XCTUnwrap(ChaCha20Poly1305(key: key, mode: .open))
        // One context for many packets of many sizes, as a transfer uses it.
        for size in [0, 1, 15, 16, 63, 64, 65, 1198, 1500, 16_384, 40_000] {
            let plain = random(size), nonce = random(12)
            var expected = [UInt8](repeating: 0, count: size + 16)
            var length: UInt64 = 0
            _ = crypto_aead_chacha20poly1305_ietf_encrypt(&expected, &length, plain, UInt64(size), nil, 0, nil, nonce, key)
            let sealed = seal(sealer, plain, nonce)
            XCTAssertEqual(sealed, expected, "size \(size)")
            XCTAssertEqual(open(opener, sealed, nonce), plain, "size \(size)")
        }
    }

    func testTamperedDataTagNonceOrKeyIsRefused() throws {
        let key = random(32), nonce = random(12), plain = random(3000)
        let sealer = try XCTUnwrap(ChaCha20Poly1305(key: key, mode: .seal))
        let opener = try XCTUnwrap(ChaCha20Poly1305(key: key, mode: .open))
        let sealed = seal(sealer, plain, nonce)
        for index in [0, 1500, 2999, 3000, 3015] {
            var bad = sealed
            bad[index] ^= 0x20
            XCTAssertNil(open(opener, bad, nonce), "flipped byte \(index)")
        }
        var otherNonce = nonce
        otherNonce[11] ^= 1
        XCTAssertNil(open(opener, sealed, otherNonce))
        XCTAssertNil(open(try XCTUnwrap(ChaCha20Poly1305(key: random(32), mode: .open)), sealed, nonce))
        XCTAssertNil(open(opener, Array(sealed.prefix(15)), nonce), "shorter than a tag")
        XCTAssertEqual(open(opener, sealed, nonce), plain, "a failed open leaves the context usable")
        XCTAssertNil(ChaCha20Poly1305(key: random(31), mode: .seal))
    }

    /// XChaCha20-Poly1305 = ChaCha20-Poly1305 under HChaCha20(key, nonce[0..<16]) with the
    /// nonce 0(4) ‖ nonce[16..<24]: what the transfer fast path relies on.
    func testXChaChaThroughHChaCha20() throws {
        let key = random(32), nonce = random(24), plain = random(5000)
        let x = LibsodiumXChaCha20Poly1305.seal(plain, key: key, nonce: nonce)
        let subkey = ChaCha20Poly1305.hChaCha20(key: key, input: Array(nonce[0..<16]))
        let sealer = try XCTUnwrap(ChaCha20Poly1305(key: subkey, mode: .seal))
        XCTAssertEqual(seal(sealer, plain, [0, 0, 0, 0] + Array(nonce[16..<24])), x)
    }
}
