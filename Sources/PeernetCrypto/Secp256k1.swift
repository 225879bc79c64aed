import CSecp256k1

/// The shared libsecp256k1 context. All functions used here take it as `const`, which the
/// library documents as safe to share between threads once created and randomised.
final class Secp256k1Context: @unchecked Sendable {
    static let shared = Secp256k1Context()
    let pointer: OpaquePointer

    private init() {
        guard let ctx = secp256k1_context_create(peernet_secp256k1_context_none) else {
            fatalError("secp256k1_context_create failed")
        }
        // Blinding against side channels; a failure only loses the blinding.
        var seed = [UInt8](repeating: 0, count: 32)
        seed.withUnsafeMutableBytes { Sodium.randomBytes($0) }
        _ = secp256k1_context_randomize(ctx, seed)
        seed.withUnsafeMutableBytes { Sodium.wipe($0) }
        pointer = ctx
    }
}

/// A secp256k1 private key: the user's Peernet identity.
///
/// The 32 secret bytes live in their own allocation and are wiped with `sodium_memzero` when the
/// last reference goes away. The class is immutable after creation and therefore `Sendable`.
public final class PrivateKey: @unchecked Sendable {
    private let secret: UnsafeMutableRawBufferPointer
    /// The compressed public key (the peer ID) that belongs to this key.
    public let publicKey: PublicKey

    /// Generates a fresh key from the operating system's CSPRNG.
    public convenience init() {
        var candidate = [UInt8](repeating: 0, count: 32)
        defer { candidate.withUnsafeMutableBytes { Sodium.wipe($0) } }
        // The chance that 32 random bytes are not a valid scalar is about 2^-128; bound it anyway.
        for _ in 0..<64 {
            candidate.withUnsafeMutableBytes { Sodium.randomBytes($0) }
            if let key = try? PrivateKey(bytes: candidate) {
                self.init(copying: key)
                return
            }
        }
        fatalError("the system random number generator produced no valid secp256k1 scalar")
    }

    /// Imports 32 big-endian bytes. Unlike the reference, a scalar outside [1, n-1] is refused.
    public init(bytes: some Collection<UInt8>) throws(CryptoError) {
        guard bytes.count == 32 else { throw .invalidPrivateKey }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
        buffer.copyBytes(from: bytes)
        let ctx = Secp256k1Context.shared.pointer
        guard secp256k1_ec_seckey_verify(ctx, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 1 else {
            Sodium.wipe(buffer)
            buffer.deallocate()
            throw .invalidPrivateKey
        }
        var pub = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(ctx, &pub, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 1 else {
            Sodium.wipe(buffer)
            buffer.deallocate()
            throw .invalidPrivateKey
        }
        secret = buffer
        publicKey = PublicKey(parsed: pub)
    }

    private init(copying other: PrivateKey) {
        secret = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
        secret.copyMemory(from: UnsafeRawBufferPointer(other.secret))
        publicKey = other.publicKey
    }

    /// Imports 64 hex digits (the reference's `PrivateKey` config value; either case).
    public convenience init(hex: some StringProtocol) throws(CryptoError) {
        var bytes = try Hex.decode(hex.trimmingASCIIWhitespace(), expectedBytes: 32)
        defer { bytes.withUnsafeMutableBytes { Sodium.wipe($0) } }
        try self.init(bytes: bytes)
    }

    deinit {
        Sodium.wipe(secret)
        secret.deallocate()
    }

    /// The secret as 64 lower-case hex digits, for export into a 0600 file.
    public var hexString: String {
        Hex.encode(UnsafeRawBufferPointer(secret))
    }

    /// A copy of the 32 secret bytes. Callers should wipe their copy when done.
    public func withSecretBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(secret))
    }

    /// Signs a 32-byte digest and returns the 65-byte compact recoverable form Peernet uses:
    /// header (27 + 4 + recovery id), r (32, big-endian), s (32, big-endian, low-S).
    /// The nonce is RFC 6979 deterministic, so signatures match the reference byte for byte.
    public func sign(digest: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8] {
        guard digest.count == 32 else { throw .invalidDigestLength(digest.count) }
        let ctx = Secp256k1Context.shared.pointer
        var sig = secp256k1_ecdsa_recoverable_signature()
        let ok = secp256k1_ecdsa_sign_recoverable(
            ctx, &sig, digest.baseAddress!.assumingMemoryBound(to: UInt8.self),
            secret.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, nil)
        guard ok == 1 else { throw .invalidPrivateKey }
        var out = [UInt8](repeating: 0, count: 65)
        var recid: Int32 = 0
        out.withUnsafeMutableBufferPointer { p in
            _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, p.baseAddress! + 1, &recid, &sig)
        }
        out[0] = UInt8(27 + 4 + recid)
        return out
    }

    /// Signs a 32-byte digest (see `sign(digest:)`).
    public func sign(digest: [UInt8]) throws(CryptoError) -> [UInt8] {
        let result = digest.withUnsafeBytes { d in Result { () throws(CryptoError) in try sign(digest: d) } }
        return try result.get()
    }

    /// The raw 32-byte ECDH shared secret with `peer`: SHA-256 of the compressed shared point,
    /// libsecp256k1's default. Used to key the encrypted transfer fast path between our nodes.
    public func sharedSecret(with peer: PublicKey) throws(CryptoError) -> [UInt8] {
        let ctx = Secp256k1Context.shared.pointer
        var pub = try peer.parsed()
        var out = [UInt8](repeating: 0, count: 32)
        let ok = out.withUnsafeMutableBufferPointer { o in
            secp256k1_ecdh(ctx, o.baseAddress!, &pub, secret.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, nil)
        }
        guard ok == 1 else { throw .invalidPublicKey }
        return out
    }
}

/// A secp256k1 public key in its 33-byte compressed form: a Peernet peer ID.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The 33-byte SEC1 compressed encoding (0x02/0x03 prefix + X).
    public let compressed: [UInt8]

    /// The bytes in one call: the synthesized version feeds the hasher one byte at a time
    /// (measured: a visible share of a download's CPU, where these key dictionaries per packet).
    public func hash(into hasher: inout Hasher) { compressed.withUnsafeBytes { hasher.combine(bytes: $0) } }

    /// Parses a 33-byte compressed or 65-byte uncompressed key; the point must be on the curve.
    public init(bytes: some Collection<UInt8>) throws(CryptoError) {
        let input = Array(bytes)
        guard input.count == 33 || input.count == 65 else { throw .invalidPublicKey }
        var pub = secp256k1_pubkey()
        let ok = input.withUnsafeBufferPointer {
            secp256k1_ec_pubkey_parse(Secp256k1Context.shared.pointer, &pub, $0.baseAddress!, input.count)
        }
        guard ok == 1 else { throw .invalidPublicKey }
        self.init(parsed: pub)
    }

    /// Parses a peer ID given as hex (66 digits compressed, or 130 uncompressed).
    public init(hex: some StringProtocol) throws(CryptoError) {
        try self.init(bytes: Hex.decode(hex.trimmingASCIIWhitespace()))
    }

    init(parsed pub: secp256k1_pubkey) {
        var pub = pub
        var out = [UInt8](repeating: 0, count: 33)
        var length = 33
        out.withUnsafeMutableBufferPointer { p in
            _ = secp256k1_ec_pubkey_serialize(Secp256k1Context.shared.pointer, p.baseAddress!, &length, &pub,
                                              peernet_secp256k1_ec_compressed)
        }
        compressed = out
    }

    fileprivate func parsed() throws(CryptoError) -> secp256k1_pubkey {
        var pub = secp256k1_pubkey()
        let ok = compressed.withUnsafeBufferPointer {
            secp256k1_ec_pubkey_parse(Secp256k1Context.shared.pointer, &pub, $0.baseAddress!, 33)
        }
        guard ok == 1 else { throw .invalidPublicKey }
        return pub
    }

    /// The 65-byte uncompressed encoding (0x04 + X + Y).
    public var uncompressed: [UInt8] {
        guard var pub = try? parsed() else { return [] }
        var out = [UInt8](repeating: 0, count: 65)
        var length = 65
        out.withUnsafeMutableBufferPointer { p in
            _ = secp256k1_ec_pubkey_serialize(Secp256k1Context.shared.pointer, p.baseAddress!, &length, &pub,
                                              peernet_secp256k1_ec_uncompressed)
        }
        return out
    }

    /// The DHT node ID: BLAKE3-256 of the compressed key.
    public var nodeID: [UInt8] { BLAKE3.hash(compressed) }

    /// The peer ID as 66 lower-case hex digits.
    public var hexString: String { Hex.encode(compressed) }
    public var description: String { hexString }

    /// Recovers the signer's key from a 65-byte compact signature and the 32-byte digest it signs.
    /// Accepts header bytes 27...34 as the reference does (recovery id = (header - 27) & ~4),
    /// and, like the reference, does not reject high-S signatures.
    public static func recover(signature: UnsafeRawBufferPointer, digest: UnsafeRawBufferPointer) throws(CryptoError) -> PublicKey {
        guard digest.count == 32 else { throw .invalidDigestLength(digest.count) }
        guard signature.count == 65 else { throw .invalidSignature }
        let header = signature[0]
        guard header >= 27 && header <= 34 else { throw .invalidSignature }
        let recid = Int32((header - 27) & ~4)
        let ctx = Secp256k1Context.shared.pointer
        var sig = secp256k1_ecdsa_recoverable_signature()
        let parsed = secp256k1_ecdsa_recoverable_signature_parse_compact(
            ctx, &sig, signature.baseAddress!.assumingMemoryBound(to: UInt8.self) + 1, recid)
        guard parsed == 1 else { throw .invalidSignature }
        var pub = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(ctx, &pub, &sig, digest.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 1 else {
            throw .recoveryFailed
        }
        return PublicKey(parsed: pub)
    }

    /// Recovers the signer's key (see the buffer form).
    public static func recover(signature: [UInt8], digest: [UInt8]) throws(CryptoError) -> PublicKey {
        let result = signature.withUnsafeBytes { s in
            digest.withUnsafeBytes { d in Result { () throws(CryptoError) in try recover(signature: s, digest: d) } }
        }
        return try result.get()
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> Substring {
        let s = Substring(self)
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let start = s.firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = s.lastIndex(where: { !isSpace($0) })!
        return s[start...end]
    }
}
