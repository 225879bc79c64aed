#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 address as its 4 network-order bytes.
public struct IPv4Address: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public static let unspecified = IPv4Address(unchecked: [0, 0, 0, 0])

    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 4 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses dotted-quad text ("127.0.0.1").
    public init?(_ text: String) {
        var addr = in_addr()
        guard inet_pton(AF_INET, text, &addr) == 1 else { return nil }
        self.bytes = withUnsafeBytes(of: &addr) { Array($0) }
    }

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    public var isUnspecified: Bool { bytes == [0, 0, 0, 0] }
    public var isLoopback: Bool { bytes[0] == 127 }
    public var description: String { bytes.map(String.init).joined(separator: ".") }
}

/// An IPv6 address as its 16 network-order bytes.
public struct IPv6Address: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public static let unspecified = IPv6Address(unchecked: [UInt8](repeating: 0, count: 16))

    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses RFC 4291 text ("2001:db8::1", "::1").
    public init?(_ text: String) {
        var addr = in6_addr()
        guard inet_pton(AF_INET6, text, &addr) == 1 else { return nil }
        self.bytes = withUnsafeBytes(of: &addr) { Array($0) }
    }

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }
    /// `::ffff:a.b.c.d`: forbidden in Peernet's IPv6 fields.
    public var isIPv4Mapped: Bool { bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff }
    public var isLoopback: Bool { bytes == [UInt8](repeating: 0, count: 15) + [1] }

    public var description: String {
        var addr = in6_addr()
        withUnsafeMutableBytes(of: &addr) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
