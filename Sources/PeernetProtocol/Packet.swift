import PeernetCrypto

/// A regular Peernet packet before encryption / after decryption (network.md §2).
public struct Packet: Equatable, Sendable {
    /// Header byte 4; must be 0 (there is no version negotiation).
    public var protocolVersion: UInt8 = 0
    public var command: Command
    /// Request/reply correlation (§5).
    public var sequence: UInt32
    public var payload: [UInt8]

    public init(command: Command, sequence: UInt32, payload: [UInt8] = []) {
        self.command = command
        self.sequence = sequence
        self.payload = payload
    }
}

/// A packet received and authenticated by signature recovery: the sender *is* the key that
/// recovery yields (there is no other identity check in Peernet).
public struct ReceivedPacket: Equatable, Sendable {
    public var packet: Packet
    public var sender: PublicKey
    public init(packet: Packet, sender: PublicKey) {
        self.packet = packet
        self.sender = sender
    }
}

/// Encryption, signing, decryption and sender recovery of regular packets.
///
/// Layout: nonce(4) ‖ Salsa20(version, command, sequence, size, payload, garbage) ‖
/// Salsa20(signature(65)), key = receiver's X coordinate, nonce = the 4 bytes twice; the
/// signature covers the clear nonce and the *encrypted* body, and its keystream restarts at 0.
public enum PacketCodec {
    /// Encodes and signs `packet` from `sender` to `receiver`. `nonce` (4 bytes) and `garbage`
    /// may be injected to reproduce the reference's bytes; otherwise they are random, garbage
    /// following the reference's length rule (§2.6).
    public static func encode(_ packet: Packet, sender: PrivateKey, receiver: PublicKey,
                              nonce: [UInt8]? = nil, garbage: [UInt8]? = nil) throws(ProtocolError) -> [UInt8] {
        let p = packet.payload.count
        guard p <= WireLimits.maxPacketPayload else {
            throw .tooLarge(what: "packet payload", size: p, limit: WireLimits.maxPacketPayload)
        }
        if let nonce, nonce.count != 4 { throw .invalidField(what: "packet nonce", reason: "must be 4 bytes") }
        let pad = garbage ?? randomGarbage(payloadSize: p)
        let nonceBytes = nonce ?? withUnsafeBytes(of: UInt32.random(in: 0...UInt32.max)) { Array($0) }

        var raw = [UInt8]()
        raw.reserveCapacity(4 + 12 - 4 + p + pad.count + 65 + 4)
        raw.append(contentsOf: nonceBytes)
        raw.append(packet.protocolVersion)
        raw.append(packet.command.rawValue)
        raw.appendLE(packet.sequence)
        raw.appendLE(UInt16(p))
        raw.append(contentsOf: packet.payload)
        raw.append(contentsOf: pad)
        let bodyEnd = raw.count

        let key = Array(receiver.compressed[1...])
        let streamNonce = nonceBytes + nonceBytes
        key.withUnsafeBytes { k in
            streamNonce.withUnsafeBytes { n in
                raw.withUnsafeMutableBytes { r in
                    Salsa20.xor(UnsafeMutableRawBufferPointer(rebasing: r[4..<bodyEnd]), key: k, nonce: n)
                }
            }
        }
        let digest = raw.withUnsafeBytes { BLAKE3.hash(UnsafeRawBufferPointer(rebasing: $0[0..<bodyEnd])) }
        var signature: [UInt8]
        do { signature = try sender.sign(digest: digest) } catch { throw .badSignature }
        Salsa20.xor(&signature, key: key, nonce: streamNonce)
        raw.append(contentsOf: signature)
        return raw
    }

    /// Decrypts a datagram addressed to `receiver` (our own key, or a discovery key), recovers
    /// the sender and validates the header. Throws for anything malformed; the reference's rule
    /// that a packet from our own key is dropped is applied when `rejectOwn` is set.
    public static func decode(_ datagram: [UInt8], receiver: PublicKey, rejectOwn: Bool = true) throws(ProtocolError) -> ReceivedPacket {
        let length = datagram.count
        guard length >= WireLimits.packetMinimum else {
            throw .truncated(what: "packet", needed: WireLimits.packetMinimum, available: length)
        }
        let key = Array(receiver.compressed[1...])
        let streamNonce = Array(datagram[0..<4]) + Array(datagram[0..<4])
        var signature = Array(datagram[(length - 65)...])
        Salsa20.xor(&signature, key: key, nonce: streamNonce)
        let digest = datagram.withUnsafeBytes { BLAKE3.hash(UnsafeRawBufferPointer(rebasing: $0[0..<(length - 65)])) }
        let sender: PublicKey
        do { sender = try PublicKey.recover(signature: signature, digest: digest) } catch { throw .badSignature }

        var body = Array(datagram[4..<(length - 65)])
        Salsa20.xor(&body, key: key, nonce: streamNonce)
        let version = body[0]
        let payloadSize = Int(UInt16(body[6]) | UInt16(body[7]) << 8)
        guard payloadSize <= length - WireLimits.packetMinimum else {
            throw .invalidField(what: "packet payload size", reason: "\(payloadSize) exceeds the \(length - WireLimits.packetMinimum) bytes present")
        }
        if rejectOwn && sender == receiver { throw .ownPacket }
        guard version == 0 else { throw .unsupportedVersion(version) }
        let sequence = UInt32(body[2]) | UInt32(body[3]) << 8 | UInt32(body[4]) << 16 | UInt32(body[5]) << 24
        var packet = Packet(command: Command(rawValue: body[1]), sequence: sequence,
                            payload: Array(body[8..<(8 + payloadSize)]))
        packet.protocolVersion = version
        return ReceivedPacket(packet: packet, sender: sender)
    }

    /// The reference's garbage length rule for a packet of `77 + payloadSize` bytes: 0...19
    /// random bytes, none for exactly 508 or 1232, and never crossing 508 or 1232 from below.
    public static func garbageLengthRange(payloadSize: Int) -> ClosedRange<Int> {
        let t = WireLimits.packetMinimum + payloadSize
        if t == 508 || t == 1232 { return 0...0 }
        if t > 488 && t < 508 { return 0...(508 - t - 1) }
        if t > 1212 && t < 1232 { return 0...(1232 - t - 1) }
        return 0...19
    }

    static func randomGarbage(payloadSize: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        let n = Int.random(in: garbageLengthRange(payloadSize: payloadSize), using: &rng)
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }
}
