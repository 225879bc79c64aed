import Foundation
import PeernetCrypto
import PeernetProtocol

/// Valid encodings of every message, written as selector-prefixed seed files so the fuzzer
/// starts from inputs that get past the first length checks.
enum Seeds {
    static func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let a = try PrivateKey(bytes: [UInt8](repeating: 1, count: 32))
        let h = Hash256.blake3([1, 2, 3])
        let header = MessageHeader(features: [.ipv4Listen, .ipv6Listen], blockchainHeight: 4, blockchainVersion: 1,
                                   portInternal: 112, userAgent: "Peernet Swift/0.1")
        var peer = PeerRecord(publicKey: a.publicKey)
        peer.ipv4 = IPv4Address("127.0.0.1")!
        peer.ipv4PortReportedInternal = 112
        peer.ipv6 = IPv6Address("::1")!
        let announcement = Announcement(header: header, findSelf: true, findPeer: [h], findValue: [h],
                                        infoStore: [InfoStoreRecord(hash: h, size: 3)])
        let response = Response(header: header, hashToPeers: [HashToPeers(hash: h, storing: [peer], closest: [peer])],
                                embeddedFiles: [EmbeddedFile(data: [1, 2, 3])], hashesNotFound: [h])
        let traverse = try Traverse.signed(by: a, target: fuzzReceiver, relay: try PrivateKey(bytes: [UInt8](repeating: 3, count: 32)).publicKey,
                                           expires: 1_900_000_000, embeddedPacket: [UInt8](repeating: 7, count: 80))
        let getBlock = GetBlockMessage.request(blockchain: a.publicKey, limitBlockCount: 10, maxBlockSize: 4096,
                                               transferID: .random(), ranges: [BlockRange(offset: 0, count: 2)])
        let transfer = TransferMessage.request(hash: h, offset: 0, limit: 0, transferID: .random())
        var hs = UDTHandshake()
        hs.socketID = 1
        let udt = UDTPacket.control(UDTControlPacket(timestamp: 0, destinationSocketID: 0, body: .handshake(hs)))
        let data = UDTPacket.data(UDTDataPacket(sequence: 1, messageNumber: 0, timestamp: 0, destinationSocketID: 2, payload: [9, 9]))
        let samples: [(UInt8, [UInt8])] = [
            (0, announcement.encode(sendUserAgent: true)[0]),
            (1, try response.encode(sendUserAgent: true)[0]),
            (2, traverse.encode()), (3, try getBlock.encode()), (4, try transfer.encode()),
            (5, udt.encode()), (5, data.encode()),
            (6, try LitePacket(id: .random(), data: data.encode()).encode()),
            (7, FileTransferHeader(fileSize: 9, transferSize: 9).encode()), (8, Array("hello".utf8)),
            (9, try PacketCodec.encode(Packet(command: .announcement, sequence: 1, payload: announcement.encode(sendUserAgent: true)[0]),
                                       sender: a, receiver: fuzzReceiver)),
            (9, try PacketCodec.encode(Packet(command: .response, sequence: 1, payload: try response.encode(sendUserAgent: false)[0]),
                                       sender: a, receiver: fuzzReceiver)),
        ]
        for (i, (selector, bytes)) in samples.enumerated() {
            _ = FileManager.default.createFile(atPath: "\(directory)/seed-\(i)", contents: Data([selector] + bytes))
        }
        print("wrote \(samples.count) seeds to \(directory)")
    }

    /// A stateful target's seeds (already selector-prefixed).
    static func write(_ seeds: [[UInt8]], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (i, bytes) in seeds.enumerated() {
            _ = FileManager.default.createFile(atPath: "\(directory)/seed-\(i)", contents: Data(bytes))
        }
        print("wrote \(seeds.count) seeds to \(directory)")
    }
}
