import PeernetCrypto

/// The 16-byte ID of a transfer: a version-4 UUID that tags every lite packet of one file or
/// block transfer. Sent as its 16 raw bytes.
public struct TransferID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// The bytes in one call: the synthesized version feeds the hasher one byte at a time
    /// (measured: a visible share of a download's CPU, where these key dictionaries per packet).
    public func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }

    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses the canonical text form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (or 32 hex digits).
    public init?(uuidString: String) {
        let hex = uuidString.filter { $0 != "-" }
        guard hex.count == 32, let b = try? Hex.decode(hex, expectedBytes: 16) else { return nil }
        self.bytes = b
    }

    /// A random version-4 UUID from the CSPRNG (the ID is the only protection of lite packets).
    public static func random() -> TransferID {
        var b = secureRandomBytes(16)
        b[6] = (b[6] & 0x0f) | 0x40
        b[8] = (b[8] & 0x3f) | 0x80
        return TransferID(unchecked: b)
    }

    public static let zero = TransferID(unchecked: [UInt8](repeating: 0, count: 16))

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    public var uuidString: String {
        let h = Hex.encode(bytes)
        let c = Array(h)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-"
            + String(c[16..<20]) + "-" + String(c[20..<32])
    }
    public var description: String { uuidString }
}
