import PeernetCrypto
import PeernetProtocol
import PeernetTransfer
import Synchronization

/// The encrypted fast path between two nodes of this implementation (transfer protocol 1 in
/// the Transfer request; reference nodes never receive it and would drop it: they serve only
/// protocol 0). Every lite packet's data is counter(8, LE) ‖ XChaCha20-Poly1305(UDT packet):
/// the key is derived with BLAKE3 from the ECDH secret of the two identities and the transfer
/// ID, the 24-byte nonce is direction(1) ‖ 0(15) ‖ counter(8, LE). Packets that fail
/// authentication are dropped.
///
/// How it is computed: with the first 16 nonce bytes fixed per direction, XChaCha20's subkey
/// (HChaCha20 of the key and those bytes) is fixed too, so each direction is plain
/// ChaCha20-Poly1305 (IETF) under its subkey with the nonce 0(4) ‖ counter(8). That runs on
/// OpenSSL's code, keyed once per transfer; the bytes on the wire are XChaCha20-Poly1305's
/// (a test compares them with libsodium's).
final class TransferCipher: Sendable {
    static let overhead = 8 + ChaCha20Poly1305.tagLength
    let sendDirection: UInt8
    private let sealer: Mutex<(counter: UInt64, aead: ChaCha20Poly1305)>
    private let opener: Mutex<ChaCha20Poly1305>

    init?(local: PrivateKey, remote: PublicKey, transferID: TransferID, isRequester: Bool) {
        guard let secret = try? local.sharedSecret(with: remote) else { return nil }
        var kdf = BLAKE3(deriveKeyContext: "peernet-swift 2026 transfer fast path v1")
        kdf.update(secret + transferID.bytes)
        let key = kdf.finalize()
        sendDirection = isRequester ? 1 : 2
        let receiveDirection: UInt8 = isRequester ? 2 : 1
        func subkey(_ direction: UInt8) -> [UInt8] {
            ChaCha20Poly1305.hChaCha20(key: key, input: [direction] + [UInt8](repeating: 0, count: 15))
        }
        guard let sealing = ChaCha20Poly1305(key: subkey(sendDirection), mode: .seal),
              let opening = ChaCha20Poly1305(key: subkey(receiveDirection), mode: .open) else { return nil }
        sealer = Mutex((0, sealing))
        opener = Mutex(opening)
    }

    /// The lite packet carrying `packet` sealed: header, counter, ciphertext and tag written
    /// into one buffer (no intermediate copies on the send path).
    func litePacket(id: TransferID, sealing packet: [UInt8]) -> [UInt8]? {
        litePacket(id: id, sealing: .control(packet))
    }

    /// The same for a packet in its parts: a data packet's header and payload are sealed
    /// straight from where they are (the payload from the sender's queue).
    func litePacket(id: TransferID, sealing packet: UDTOutgoing) -> [UInt8]? {
        try? LitePacket.encode(id: id, dataCount: packet.count + Self.overhead) { out in
            packet.withParts { head, tail in self.seal(head, tail, into: out) }
        }
    }

    private func seal(_ head: UnsafeRawBufferPointer, _ tail: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        sealer.withLock { s in
            let counter = s.counter
            s.counter += 1
            var nonce = Self.nonce(counter)
            withUnsafeBytes(of: counter.littleEndian) { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            withUnsafeBytes(of: &nonce) { n in
                s.aead.seal(head, tail, nonce: n, into: UnsafeMutableRawBufferPointer(rebasing: out[8...]))
            }
        }
    }

    /// Opens the data of a lite packet (`data[range]`: counter ‖ sealed UDT packet); nil when
    /// it is too short, forged, corrupted or sent by ourselves (the other direction's key).
    func open(_ data: [UInt8], range: Range<Int>? = nil) -> [UInt8]? {
        data.withUnsafeBytes { open($0, range: range ?? 0..<data.count) }
    }

    /// The same, on a datagram in the receiver's buffer: opened straight from it.
    func open(_ data: UnsafeRawBufferPointer, range r: Range<Int>) -> [UInt8]? {
        guard r.count >= Self.overhead, r.lowerBound >= 0, r.upperBound <= data.count else { return nil }
        let bytes = UnsafeRawBufferPointer(rebasing: data[r])
        var counter: UInt64 = 0
        for i in 0..<8 { counter |= UInt64(bytes[i]) << (8 * i) }
        var nonce = Self.nonce(counter)
        var ok = false
        let plain = [UInt8](unsafeUninitializedCapacity: r.count - Self.overhead) { buffer, count in
            ok = opener.withLock { aead in
                withUnsafeBytes(of: &nonce) { n in
                    aead.open(UnsafeRawBufferPointer(rebasing: bytes[8...]), nonce: n, into: UnsafeMutableRawBufferPointer(buffer))
                }
            }
            count = ok ? r.count - Self.overhead : 0
        }
        return ok ? plain : nil
    }

    /// The IETF nonce: 0(4) ‖ counter(8, LE), as a 12-byte value.
    private static func nonce(_ counter: UInt64) -> (UInt32, UInt32, UInt32) {
        (0, UInt32(truncatingIfNeeded: counter).littleEndian, UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
    }
}
