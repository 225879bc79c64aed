import PeernetProtocol
#if canImport(Glibc)
import Glibc
#endif

/// An IP address of either family.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init?(_ text: String) {
        if let a = IPv4Address(text) { self = .v4(a) } else if let a = IPv6Address(text) { self = .v6(a) } else { return nil }
    }

    public var isIPv4: Bool { if case .v4 = self { return true } else { return false } }
    public var isLoopback: Bool {
        switch self { case .v4(let a): return a.isLoopback; case .v6(let a): return a.isLoopback }
    }
    public var isUnspecified: Bool {
        switch self { case .v4(let a): return a.isUnspecified; case .v6(let a): return a.isUnspecified }
    }
    /// fe80::/10 or 169.254/16.
    public var isLinkLocal: Bool {
        switch self {
        case .v4(let a): return a.bytes[0] == 169 && a.bytes[1] == 254
        case .v6(let a): return a.bytes[0] == 0xfe && a.bytes[1] & 0xc0 == 0x80
        }
    }
    /// "LAN-local" as the reference defines it: RFC 1918, fc00::/7 or fe80::/10 (not loopback).
    public var isLANLocal: Bool {
        switch self {
        case .v4(let a):
            let b = a.bytes
            return b[0] == 10 || (b[0] == 172 && b[1] & 0xf0 == 16) || (b[0] == 192 && b[1] == 168)
        case .v6(let a): return a.bytes[0] & 0xfe == 0xfc || isLinkLocal
        }
    }
    public var description: String {
        switch self { case .v4(let a): return a.description; case .v6(let a): return a.description }
    }
}

/// A UDP address: IP and port.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: UInt16

    public init(ip: IPAddress, port: UInt16) {
        self.ip = ip
        self.port = port
    }

    /// Parses "1.2.3.4:5", "[::1]:5". With `defaultPort`, a bare IP is accepted too.
    public init?(_ text: String, defaultPort: UInt16? = nil) {
        var host = Substring(text), portText: Substring? = nil
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty { return nil }
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let ip = IPAddress(String(host)) else { return nil }
        if let portText {
            guard let p = UInt16(portText) else { return nil }
            self.init(ip: ip, port: p)
        } else {
            guard let defaultPort else { return nil }
            self.init(ip: ip, port: defaultPort)
        }
    }

    public var description: String {
        switch ip {
        case .v4: return "\(ip):\(port)"
        case .v6: return "[\(ip)]:\(port)"
        }
    }

    /// Calls `body` with this endpoint as a sockaddr.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch ip {
        case .v4(let a):
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sa.sin_addr) { $0.copyBytes(from: a.bytes) }
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .v6(let a):
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sa.sin6_addr) { $0.copyBytes(from: a.bytes) }
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// Reads an endpoint from a sockaddr_storage filled by recvfrom/getsockname.
    init?(storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let sa = UnsafeRawPointer(storage).load(as: sockaddr_in.self)
            let bytes = withUnsafeBytes(of: sa.sin_addr) { Array($0) }
            self.init(ip: .v4(IPv4Address(bytes)!), port: UInt16(bigEndian: sa.sin_port))
        case AF_INET6:
            let sa = UnsafeRawPointer(storage).load(as: sockaddr_in6.self)
            let bytes = withUnsafeBytes(of: sa.sin6_addr) { Array($0) }
            let v6 = IPv6Address(bytes)!
            // A v4-mapped source on a dual-stack socket is an IPv4 peer.
            if v6.isIPv4Mapped {
                self.init(ip: .v4(IPv4Address(bytes[12...])!), port: UInt16(bigEndian: sa.sin6_port))
            } else {
                self.init(ip: .v6(v6), port: UInt16(bigEndian: sa.sin6_port))
            }
        default:
            return nil
        }
    }
}
