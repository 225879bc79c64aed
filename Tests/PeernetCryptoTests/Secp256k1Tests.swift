import PeernetCrypto
import TestSupport
import XCTest

final class Secp256k1Tests: XCTestCase {
    func testVectorKeys() throws {
        let file = try Vectors.load("packets.json")
        let keys = file["keys"].array
        XCTAssertEqual(keys.count, 6)
        for k in keys {
            let priv = try PrivateKey(hex: k["private_key"].string)
            XCTAssertEqual(priv.publicKey.hexString, k["public_key_compressed"].string, k["name"].string)
            XCTAssertEqual(hexString(priv.publicKey.uncompressed), k["public_key_uncompressed"].string)
            XCTAssertEqual(hexString(priv.publicKey.nodeID), k["node_id"].string)
            XCTAssertEqual(priv.hexString, k["private_key"].string)
            // Parsing either encoding gives the same compressed peer ID.
            XCTAssertEqual(try PublicKey(hex: k["public_key_uncompressed"].string), priv.publicKey)
        }
    }

    /// RFC 6979 + low-S: our signatures equal the reference's byte for byte, and recovery
    /// yields the sender.
    func testSignaturesMatchReferenceAndRecover() throws {
        let file = try Vectors.load("packets.json")
        let packets = file["packets"].array
        XCTAssertGreaterThan(packets.count, 30)
        for p in packets {
            let priv = try PrivateKey(hex: p["sender_private_key"].string)
            let digest = p["signed_hash"].bytes
            let signature = try priv.sign(digest: digest)
            XCTAssertEqual(hexString(signature), p["signature_plain"].string, p["name"].string)
            XCTAssertTrue((31...34).contains(signature[0]))
            let recovered = try PublicKey.recover(signature: signature, digest: digest)
            XCTAssertEqual(recovered.hexString, p["sender_public_key"].string)
        }
    }

    func testRecoveryAcceptsUncompressedHeaderAndRejectsBadHeaders() throws {
        let priv = PrivateKey()
        let digest = BLAKE3.hash(Array("message".utf8))
        var sig = try priv.sign(digest: digest)
        sig[0] -= 4  // 27...30: the "uncompressed" form the reference also accepts
        XCTAssertEqual(try PublicKey.recover(signature: sig, digest: digest), priv.publicKey)
        for bad: UInt8 in [0, 26, 35, 255] {
            sig[0] = bad
            XCTAssertThrowsError(try PublicKey.recover(signature: sig, digest: digest)) {
                XCTAssertEqual($0 as? CryptoError, .invalidSignature)
            }
        }
        XCTAssertThrowsError(try PublicKey.recover(signature: Array(sig.prefix(64)), digest: digest))
        // r = s = 0 is out of range.
        XCTAssertThrowsError(try PublicKey.recover(signature: [31] + [UInt8](repeating: 0, count: 64), digest: digest))
        XCTAssertThrowsError(try priv.sign(digest: [1, 2, 3]))
    }

    func testWrongDigestRecoversAnotherKey() throws {
        let priv = PrivateKey()
        let digest = BLAKE3.hash([1])
        let sig = try priv.sign(digest: digest)
        let other = BLAKE3.hash([2])
        if let key = try? PublicKey.recover(signature: sig, digest: other) {
            XCTAssertNotEqual(key, priv.publicKey)
        }
    }

    func testInvalidKeysAreRejected() {
        XCTAssertThrowsError(try PrivateKey(bytes: [UInt8](repeating: 0, count: 32)))
        XCTAssertThrowsError(try PrivateKey(bytes: [UInt8](repeating: 0xff, count: 32)))  // >= n
        XCTAssertThrowsError(try PrivateKey(bytes: [1, 2, 3]))
        XCTAssertThrowsError(try PrivateKey(hex: "zz"))
        XCTAssertThrowsError(try PrivateKey(hex: String(repeating: "1", count: 63)))
        XCTAssertThrowsError(try PublicKey(bytes: [UInt8](repeating: 5, count: 33)))
        XCTAssertThrowsError(try PublicKey(bytes: [2]))
    }

    func testGeneratedKeysAreDistinctAndRoundTrip() throws {
        let a = PrivateKey(), b = PrivateKey()
        XCTAssertNotEqual(a.publicKey, b.publicKey)
        let again = try PrivateKey(hex: a.hexString.uppercased())
        XCTAssertEqual(again.publicKey, a.publicKey)
        XCTAssertEqual(a.publicKey.compressed.count, 33)
    }

    func testECDHIsSymmetric() throws {
        let a = PrivateKey(), b = PrivateKey()
        XCTAssertEqual(try a.sharedSecret(with: b.publicKey), try b.sharedSecret(with: a.publicKey))
        XCTAssertNotEqual(try a.sharedSecret(with: b.publicKey), try a.sharedSecret(with: a.publicKey))
    }
}

final class Salsa20Tests: XCTestCase {
    /// network.md A.2: the first 16 keystream bytes for a known key and nonce.
    func testKnownKeystream() {
        var zeros = [UInt8](repeating: 0, count: 16)
        Salsa20.xor(&zeros, key: hexBytes("c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"),
                    nonce: hexBytes("2fdc0fce2fdc0fce"))
        XCTAssertEqual(hexString(zeros), "1613ee87611f8cf969c272ba821e39d4")
    }

    func testPacketBodiesDecryptWithVectorKeys() throws {
        let file = try Vectors.load("packets.json")
        for p in file["packets"].array {
            let raw = p["raw"].bytes
            var body = Array(raw[4..<(raw.count - 65)])
            Salsa20.xor(&body, key: p["salsa20_key"].bytes, nonce: p["salsa20_nonce"].bytes)
            XCTAssertEqual(hexString(body), p["plaintext_body"].string, p["name"].string)
        }
    }

    func testXorTwiceIsIdentityAndCounterContinues() {
        let key = (0..<32).map { UInt8($0) }, nonce = [UInt8](repeating: 9, count: 8)
        let original = pattern(300)
        var data = original
        Salsa20.xor(&data, key: key, nonce: nonce)
        XCTAssertNotEqual(data, original)
        Salsa20.xor(&data, key: key, nonce: nonce)
        XCTAssertEqual(data, original)
        // Block counter 1 continues the stream at byte 64.
        var whole = [UInt8](repeating: 0, count: 128)
        Salsa20.xor(&whole, key: key, nonce: nonce)
        var tail = [UInt8](repeating: 0, count: 64)
        key.withUnsafeBytes { k in nonce.withUnsafeBytes { n in
            tail.withUnsafeMutableBytes { Salsa20.xor($0, key: k, nonce: n, counter: 1) }
        } }
        XCTAssertEqual(Array(whole[64...]), tail)
    }

    func testHexRejectsMalformedText() {
        XCTAssertThrowsError(try Hex.decode("abc"))
        XCTAssertThrowsError(try Hex.decode("gg"))
        XCTAssertThrowsError(try Hex.decode("aabb", expectedBytes: 3))
        XCTAssertEqual(try Hex.decode("DeadBEEF"), [0xde, 0xad, 0xbe, 0xef])
        XCTAssertEqual(Hex.encode([0, 255, 16]), "00ff10")
    }
}
