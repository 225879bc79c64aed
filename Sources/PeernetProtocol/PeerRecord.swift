import PeernetCrypto

/// A peer in a Response (70 bytes on the wire, network.md §4.4). The node ID is not sent;
/// receivers derive it from the public key.
public struct PeerRecord: Equatable, Sendable {
    public static let size = 70
    public var publicKey: PublicKey
    public var ipv4: IPv4Address = .unspecified
    /// IPv4 port observed on the connection.
    public var ipv4Port: UInt16 = 0
    public var ipv4PortReportedInternal: UInt16 = 0
    public var ipv4PortReportedExternal: UInt16 = 0
    public var ipv6: IPv6Address = .unspecified
    public var ipv6Port: UInt16 = 0
    public var ipv6PortReportedInternal: UInt16 = 0
    public var ipv6PortReportedExternal: UInt16 = 0
    /// Seconds since the last contact (the reference always sends 0).
    public var lastContactSeconds: UInt32 = 0
    /// The peer's feature bits (bits 0-6 of byte 69).
    public var features: Features = []

    public init(publicKey: PublicKey) { self.publicKey = publicKey }

    public var nodeID: Hash256 { Hash256.nodeID(of: publicKey) }

    func encode(storing: Bool, into out: inout [UInt8]) {
        out += publicKey.compressed
        out += ipv4.bytes
        out.appendLE(ipv4Port)
        out.appendLE(ipv4PortReportedInternal)
        out.appendLE(ipv4PortReportedExternal)
        out += ipv6.bytes
        out.appendLE(ipv6Port)
        out.appendLE(ipv6PortReportedInternal)
        out.appendLE(ipv6PortReportedExternal)
        out.appendLE(lastContactSeconds)
        out.append(features.rawValue & 0x7f | (storing ? 0x80 : 0))
    }

    /// Decodes one record; returns it with its "storing" reason bit.
    static func decode(_ r: inout ByteReader) throws(ProtocolError) -> (PeerRecord, storing: Bool) {
        try r.require(size, "peer record")
        var p = PeerRecord(publicKey: try r.publicKey("peer record public key"))
        p.ipv4 = IPv4Address(unchecked: try r.take(4))
        p.ipv4Port = try r.u16le()
        p.ipv4PortReportedInternal = try r.u16le()
        p.ipv4PortReportedExternal = try r.u16le()
        p.ipv6 = IPv6Address(unchecked: try r.take(16))
        guard !p.ipv6.isIPv4Mapped else {
            throw .invalidField(what: "peer record IPv6", reason: "IPv4-mapped addresses are not allowed")
        }
        p.ipv6Port = try r.u16le()
        p.ipv6PortReportedInternal = try r.u16le()
        p.ipv6PortReportedExternal = try r.u16le()
        p.lastContactSeconds = try r.u32le()
        let last = try r.u8()
        p.features = Features(rawValue: last & 0x7f)
        return (p, last & 0x80 != 0)
    }
}
