import PeernetCrypto
import PeernetProtocol
import Synchronization

/// The encrypted fast path between two nodes of this implementation (transfer protocol 1 in
/// the Transfer request; reference nodes never receive it and would drop it: they serve only
/// protocol 0). Every lite packet's data is counter(8) ‖ XChaCha20-Poly1305(UDT packet): the
/// key is derived with BLAKE3 from the ECDH secret of the two identities and the transfer ID,
/// the nonce from the direction and the counter. Packets that fail authentication are dropped.
final class TransferCipher: Sendable {
    static let overhead = 8 + AEAD.tagLength
    let key: [UInt8]
    let sendDirection: UInt8
    let counter = Mutex<UInt64>(0)

    init?(local: PrivateKey, remote: PublicKey, transferID: TransferID, isRequester: Bool) {
        guard let secret = try? local.sharedSecret(with: remote) else { return nil }
        var kdf = BLAKE3(deriveKeyContext: "peernet-swift 2026 transfer fast path v1")
        kdf.update(secret + transferID.bytes)
        key = kdf.finalize()
        sendDirection = isRequester ? 1 : 2
    }

    private func nonce(direction: UInt8, counter: UInt64) -> [UInt8] {
        var n = [UInt8](repeating: 0, count: AEAD.nonceLength)
        n[0] = direction
        withUnsafeBytes(of: counter.littleEndian) { for (i, b) in $0.enumerated() { n[16 + i] = b } }
        return n
    }

    func seal(_ packet: [UInt8]) -> [UInt8] {
        let c = counter.withLock { c in defer { c += 1 }; return c }
        var out: [UInt8] = []
        withUnsafeBytes(of: c.littleEndian) { out += $0 }
        out += AEAD.seal(packet, key: key, nonce: nonce(direction: sendDirection, counter: c))
        return out
    }

    func open(_ data: [UInt8]) -> [UInt8]? {
        guard data.count >= Self.overhead else { return nil }
        let c = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
        return AEAD.open(data[8...], key: key, nonce: nonce(direction: sendDirection == 1 ? 2 : 1, counter: c))
    }
}
