import PeernetCrypto
import PeernetProtocol

enum ProtocolBenchmarks {
    static func run(into table: BenchTable) {
        let sender = try! PrivateKey(bytes: [UInt8](repeating: 1, count: 32))
        let receiver = try! PrivateKey(bytes: [UInt8](repeating: 2, count: 32)).publicKey
        let digest = BLAKE3.hash([1, 2, 3])

        // The ceiling: bare libsecp256k1, measured in this run.
        let tSign = Timer.bestSecondsPerCall(iterations: 2000) { blackHole(try? sender.sign(digest: digest)) }
        let sig = try! sender.sign(digest: digest)
        let tRecover = Timer.bestSecondsPerCall(iterations: 2000) { blackHole(try? PublicKey.recover(signature: sig, digest: digest)) }

        for size in [0, 1000] {
            let packet = Packet(command: .announcement, sequence: 42, payload: [UInt8](repeating: 7, count: size))
            let tEnc = Timer.bestSecondsPerCall(iterations: 2000) {
                blackHole(try? PacketCodec.encode(packet, sender: sender, receiver: receiver))
            }
            table.add(BenchRow(group: "protocol", name: "packet encode+sign, \(size) B payload", value: 1 / tEnc, unit: "pkt/s",
                               baselineName: "bare secp256k1 sign", baselineValue: 1 / tSign))
            let raw = try! PacketCodec.encode(packet, sender: sender, receiver: receiver)
            let tDec = Timer.bestSecondsPerCall(iterations: 2000) {
                blackHole(try? PacketCodec.decode(raw, receiver: receiver))
            }
            table.add(BenchRow(group: "protocol", name: "packet decode+recover, \(size) B payload", value: 1 / tDec, unit: "pkt/s",
                               baselineName: "bare secp256k1 recover", baselineValue: 1 / tRecover))
        }

        let h = Hash256.blake3([9])
        let header = MessageHeader(features: [.ipv4Listen], blockchainHeight: 10, blockchainVersion: 2, portInternal: 112,
                                   userAgent: "Peernet Swift/0.1")
        let announcement = Announcement(header: header, findSelf: true, findPeer: [h])
        let tAnnEnc = Timer.bestSecondsPerCall(iterations: 50_000) { blackHole(announcement.encode(sendUserAgent: true)) }
        table.add(BenchRow(group: "protocol", name: "Announcement encode (find self + 1 key)", value: 1 / tAnnEnc, unit: "msg/s"))
        let annBytes = announcement.encode(sendUserAgent: true)[0]
        let tAnnDec = Timer.bestSecondsPerCall(iterations: 50_000) { blackHole(try? Announcement.decode(annBytes)) }
        table.add(BenchRow(group: "protocol", name: "Announcement decode (find self + 1 key)", value: 1 / tAnnDec, unit: "msg/s"))

        var peer = PeerRecord(publicKey: sender.publicKey)
        peer.ipv4 = IPv4Address("127.0.0.1")!
        peer.ipv4PortReportedInternal = 112
        let response = Response(header: header, hashToPeers: [HashToPeers(hash: h, closest: Array(repeating: peer, count: 5))])
        let tResEnc = Timer.bestSecondsPerCall(iterations: 20_000) { blackHole(try? response.encode(sendUserAgent: false)) }
        table.add(BenchRow(group: "protocol", name: "Response encode (5 peer records)", value: 1 / tResEnc, unit: "msg/s"))
        let resBytes = try! response.encode(sendUserAgent: false)[0]
        // Decoding parses 5 public keys (point decompression): the dominant cost.
        let tResDec = Timer.bestSecondsPerCall(iterations: 5_000) { blackHole(try? Response.decode(resBytes)) }
        table.add(BenchRow(group: "protocol", name: "Response decode (5 peer records)", value: 1 / tResDec, unit: "msg/s"))

        let data = UDTPacket.data(UDTDataPacket(sequence: 1, messageNumber: 1, timestamp: 1, destinationSocketID: 1,
                                                payload: [UInt8](repeating: 1, count: UDTPacket.maxDataPayload)))
        let id = TransferID.random()
        let tLite = Timer.bestSecondsPerCall(iterations: 100_000) {
            blackHole(try? LitePacket(id: id, data: data.encode()).encode())
        }
        table.add(BenchRow(group: "protocol", name: "lite+UDT data packet encode (1198 B)", value: 1 / tLite, unit: "pkt/s"))
        let liteBytes = try! LitePacket(id: id, data: data.encode()).encode()
        let tLiteDec = Timer.bestSecondsPerCall(iterations: 100_000) {
            blackHole(try? UDTPacket.decode(LitePacket.decode(liteBytes).data))
        }
        table.add(BenchRow(group: "protocol", name: "lite+UDT data packet decode (1198 B)", value: 1 / tLiteDec, unit: "pkt/s"))
    }
}
