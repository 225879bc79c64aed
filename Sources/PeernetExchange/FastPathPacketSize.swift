import PeernetProtocol

/// How large the fast path's UDT packets are on a path: as large as fits one IP packet of the
/// path's MTU, up to 16 KiB. Before, loopback and every LAN address got 16 KiB: on a LAN with
/// a 1,500-byte MTU each datagram then left as 11 IP fragments (one lost fragment loses all
/// 16 KiB, and networks that drop fragments drop the whole transfer). Datagrams that fit the
/// MTU go out in batches anyway (UDP GSO/`sendmmsg`), so the smaller size costs few system
/// calls.
enum FastPathPacketSize {
    /// Above this, larger datagrams gained nothing on loopback (64 KiB MTU) and made the
    /// receive buffers coarser.
    static let largest = 16_384
    /// What a UDT payload must leave of an IP packet: IP and UDP headers, the lite packet
    /// header, the cipher's counter and tag, the UDT header.
    static func overhead(ipv6: Bool) -> Int { (ipv6 ? 40 : 20) + 8 + LitePacket.headerSize + TransferCipher.overhead + UDTPacket.headerSize }
    /// The compatible mode's packet size (fits the smallest paths: IPv6's 1,280 bytes).
    static let smallest = UDTPacket.maxDataPayload - TransferCipher.overhead

    /// The payload for a path of MTU `pathMTU` (nil: unknown, the smallest).
    static func payload(pathMTU: Int?, ipv6: Bool) -> Int {
        guard let mtu = pathMTU else { return smallest }
        return min(largest, max(smallest, mtu - overhead(ipv6: ipv6)))
    }
}
