#if canImport(Glibc)
import Glibc
#endif

/// The path MTU the kernel knows for a destination: its route's MTU (the interface's, or a
/// route's own `mtu`), lowered by the ICMP "fragmentation needed" / "packet too big" messages
/// it has seen from the way there. Read with IP_MTU / IPV6_MTU on a UDP socket connected to
/// the destination; connecting a UDP socket sends nothing.
public enum PathMTU {
    /// nil where the kernel has no route to `endpoint` or does not say.
    public static func query(_ endpoint: Endpoint) -> Int? {
        let v4 = endpoint.ip.isIPv4
        let fd = socket(v4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard endpoint.withSockaddr({ connect(fd, $0, $1) }) == 0 else { return nil }
        var mtu: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let ok = v4 ? getsockopt(fd, Int32(IPPROTO_IP), IP_MTU, &mtu, &length) : getsockopt(fd, Int32(IPPROTO_IPV6), IPV6_MTU, &mtu, &length)
        return ok == 0 && mtu > 0 ? Int(mtu) : nil
    }
}
