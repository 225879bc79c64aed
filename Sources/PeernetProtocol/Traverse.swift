import PeernetCrypto

/// Traverse (command 5): a relayed first contact for peers behind NAT (network.md §4.7).
/// The original sender signs target, relay, expiry and the embedded packet; the relay fills in
/// the sender's addresses (not covered by the signature).
public struct Traverse: Equatable, Sendable {
    public static let overhead = 169
    public var targetPeer: PublicKey
    public var authorizedRelay: PublicKey
    /// Unix seconds after which the message is void (the reference: sender time + 1 h).
    public var expires: UInt64
    /// A complete regular packet from the original sender to the target.
    public var embeddedPacket: [UInt8]
    /// The inner compact signature (65 bytes, not XOR-encrypted).
    public var signature: [UInt8]
    /// The signer as recovered from `signature` (set by `decode` and `signed`).
    public var signer: PublicKey?
    public var ipv4: IPv4Address = .unspecified
    public var portIPv4: UInt16 = 0
    public var portIPv4ReportedExternal: UInt16 = 0
    public var ipv6: IPv6Address = .unspecified
    public var portIPv6: UInt16 = 0
    public var portIPv6ReportedExternal: UInt16 = 0

    /// Builds and signs a Traverse with empty address fields.
    public static func signed(by signer: PrivateKey, target: PublicKey, relay: PublicKey, expires: UInt64,
                              embeddedPacket: [UInt8]) throws(ProtocolError) -> Traverse {
        guard target != relay else { throw .invalidField(what: "traverse", reason: "target and relay must differ") }
        guard overhead + embeddedPacket.count <= WireLimits.maxPayload else {
            throw .tooLarge(what: "traverse", size: overhead + embeddedPacket.count, limit: WireLimits.maxPayload)
        }
        var t = Traverse(targetPeer: target, authorizedRelay: relay, expires: expires,
                         embeddedPacket: embeddedPacket, signature: [], signer: signer.publicKey)
        do { t.signature = try signer.sign(digest: BLAKE3.hash(t.signedPart())) } catch { throw .badSignature }
        return t
    }

    func signedPart() -> [UInt8] {
        var out = targetPeer.compressed + authorizedRelay.compressed
        out.appendLE(expires)
        out.appendLE(UInt16(embeddedPacket.count))
        out += embeddedPacket
        return out
    }

    public func encode() -> [UInt8] {
        var out = signedPart()
        out += signature
        out += ipv4.bytes
        out.appendLE(portIPv4)
        out.appendLE(portIPv4ReportedExternal)
        out += ipv6.bytes
        out.appendLE(portIPv6)
        out.appendLE(portIPv6ReportedExternal)
        return out
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> Traverse {
        var r = ByteReader(payload, what: "traverse")
        try r.require(overhead)
        let target = try r.publicKey("target")
        let relay = try r.publicKey("relay")
        guard target != relay else { throw .invalidField(what: "traverse", reason: "target and relay must differ") }
        let expires = try r.u64le()
        let size = Int(try r.u16le())
        guard size == payload.count - overhead else {
            throw .invalidField(what: "traverse embedded packet size", reason: "\(size) does not match the payload (\(payload.count - overhead))")
        }
        let embedded = try r.take(size)
        let signature = try r.take(65)
        let signer: PublicKey
        do {
            signer = try PublicKey.recover(signature: signature, digest: BLAKE3.hash(payload[0..<(76 + size)]))
        } catch { throw .badSignature }
        var t = Traverse(targetPeer: target, authorizedRelay: relay, expires: expires, embeddedPacket: embedded,
                         signature: signature, signer: signer)
        t.ipv4 = IPv4Address(unchecked: try r.take(4))
        t.portIPv4 = try r.u16le()
        t.portIPv4ReportedExternal = try r.u16le()
        t.ipv6 = IPv6Address(unchecked: try r.take(16))
        guard !t.ipv6.isIPv4Mapped else {
            throw .invalidField(what: "traverse IPv6", reason: "IPv4-mapped addresses are not allowed")
        }
        t.portIPv6 = try r.u16le()
        t.portIPv6ReportedExternal = try r.u16le()
        return t
    }
}
