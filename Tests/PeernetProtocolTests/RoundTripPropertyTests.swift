import PeernetCrypto
import PeernetSupport
@testable import PeernetProtocol
import TestSupport
import XCTest

/// The seeded generator (PeernetSupport) so failures reproduce (seed printed in messages).
extension SplitMix64 {
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
    mutating func hash() -> Hash256 { Hash256(bytes(32))! }
}

/// Keys are expensive to make; a few real ones are reused by the generators.
let testKeys: [PrivateKey] = (1...6).map { try! PrivateKey(bytes: [UInt8](repeating: UInt8($0), count: 32)) }

final class RoundTripPropertyTests: XCTestCase {
    func randomHeader(_ rng: inout SplitMix64) -> MessageHeader {
        let uaChars = Array("abcXYZ/._ é世🙂")
        let ua = String((0..<Int.random(in: 0...300, using: &rng)).map { _ in uaChars.randomElement(using: &rng)! })
        return MessageHeader(features: Features(rawValue: UInt8.random(in: 0...7, using: &rng)),
                             blockchainHeight: rng.next(), blockchainVersion: rng.next(),
                             portInternal: UInt16.random(in: 0...UInt16.max, using: &rng),
                             portExternal: UInt16.random(in: 0...UInt16.max, using: &rng), userAgent: ua)
    }

    func randomPeer(_ rng: inout SplitMix64) -> PeerRecord {
        var p = PeerRecord(publicKey: testKeys.randomElement(using: &rng)!.publicKey)
        if Bool.random(using: &rng) { p.ipv4 = IPv4Address(rng.bytes(4))! }
        if Bool.random(using: &rng) {
            var b = rng.bytes(16)
            b[0] = 0x20  // never IPv4-mapped
            p.ipv6 = IPv6Address(b)!
        }
        p.ipv4Port = UInt16.random(in: 0...UInt16.max, using: &rng)
        p.ipv6PortReportedInternal = UInt16.random(in: 0...UInt16.max, using: &rng)
        p.lastContactSeconds = UInt32.random(in: 0...UInt32.max, using: &rng)
        p.features = Features(rawValue: UInt8.random(in: 0...0x7f, using: &rng))
        return p
    }

    func testAnnouncementRoundTripWithSplitting() throws {
        var rng = SplitMix64(seed: 0xA11CE)
        for round in 0..<60 {
            let big = round % 10 == 0
            var a = Announcement(header: randomHeader(&rng), findSelf: Bool.random(using: &rng))
            a.findPeer = (0..<Int.random(in: 0...(big ? 3000 : 20), using: &rng)).map { _ in rng.hash() }
            a.findValue = (0..<Int.random(in: 0...(big ? 2500 : 20), using: &rng)).map { _ in rng.hash() }
            a.infoStore = (0..<Int.random(in: 0...(big ? 2000 : 5), using: &rng)).map { _ in
                InfoStoreRecord(hash: rng.hash(), size: rng.next(), type: UInt8.random(in: 0...1, using: &rng))
            }
            let sendUA = Bool.random(using: &rng)
            let parts = a.encode(sendUserAgent: sendUA)
            var merged = Announcement(header: a.header, findSelf: a.findSelf)
            for part in parts {
                XCTAssertLessThanOrEqual(part.count, WireLimits.maxPayload)
                let d = try Announcement.decode(part)
                XCTAssertEqual(d.findSelf, a.findSelf)
                XCTAssertEqual(d.header.blockchainHeight, a.header.blockchainHeight)
                XCTAssertTrue(a.header.userAgent.utf8.starts(with: d.header.userAgent.utf8), "UA cut at a character")
                XCTAssertLessThanOrEqual(d.header.userAgent.utf8.count, 255)
                if !sendUA { XCTAssertEqual(d.header.userAgent, "") }
                merged.findPeer += d.findPeer
                merged.findValue += d.findValue
                merged.infoStore += d.infoStore
            }
            XCTAssertEqual(merged.findPeer, a.findPeer, "round \(round)")
            XCTAssertEqual(merged.findValue, a.findValue, "round \(round)")
            XCTAssertEqual(merged.infoStore, a.infoStore, "round \(round)")
        }
    }

    func testResponseRoundTripWithSplittingOfEveryKind() throws {
        var rng = SplitMix64(seed: 0xB0B)
        for round in 0..<40 {
            let big = round % 8 == 0
            var r = Response(header: randomHeader(&rng))
            r.hashToPeers = (0..<Int.random(in: 0...(big ? 400 : 6), using: &rng)).map { i in
                // Round 16's first entry is larger than one part (the reference hangs on that).
                let n = round == 16 && i == 0 ? 1200 : Int.random(in: 0...5, using: &rng)
                let peers = (0..<n).map { _ in randomPeer(&rng) }
                let split = Int.random(in: 0...n, using: &rng)
                return HashToPeers(hash: rng.hash(), storing: Array(peers[..<split]), closest: Array(peers[split...]))
            }
            r.embeddedFiles = (0..<Int.random(in: 0...(big ? 6 : 2), using: &rng)).map { _ in
                EmbeddedFile(data: rng.bytes(Int.random(in: 0...(big ? 30_000 : 300), using: &rng)))
            }
            r.hashesNotFound = (0..<Int.random(in: 0...(big ? 5000 : 4), using: &rng)).map { _ in rng.hash() }
            let sendUA = Bool.random(using: &rng)
            let parts = try r.encode(sendUserAgent: sendUA)
            var entries: [HashToPeers] = [], files: [EmbeddedFile] = [], notFound: [Hash256] = []
            for (i, part) in parts.enumerated() {
                XCTAssertLessThanOrEqual(part.count, WireLimits.maxPayload)
                let d = try Response.decode(part)
                XCTAssertEqual(d.sequenceLast, i == parts.count - 1, "only the last part ends the sequence")
                for e in d.hashToPeers {
                    if var last = entries.last, !last.isLast, last.hash == e.hash {
                        last.storing += e.storing
                        last.closest += e.closest
                        last.isLast = e.isLast
                        entries[entries.count - 1] = last
                    } else {
                        entries.append(e)
                    }
                }
                files += d.embeddedFiles
                notFound += d.hashesNotFound
            }
            XCTAssertEqual(entries, r.hashToPeers, "round \(round)")
            XCTAssertEqual(files, r.embeddedFiles, "round \(round)")
            XCTAssertEqual(notFound, r.hashesNotFound, "round \(round)")
        }
    }

    func testEmbeddedFileLimitIsExactAndNeverHangs() throws {
        for ua in ["", "Peernet Swift/0.1"] {
            let header = MessageHeader(userAgent: ua)
            let limit = Response.maxEmbeddedFileSize(userAgentBytes: ua.utf8.count)
            XCTAssertEqual(limit, 65346 - ua.utf8.count)
            let fits = Response(header: header, embeddedFiles: [EmbeddedFile(data: pattern(limit))])
            let parts = try fits.encode(sendUserAgent: true)
            XCTAssertEqual(parts.count, 1)
            XCTAssertEqual(parts[0].count, WireLimits.maxPayload)
            XCTAssertEqual(try Response.decode(parts[0]).embeddedFiles.first?.data.count, limit)
            let tooBig = Response(header: header, embeddedFiles: [EmbeddedFile(data: pattern(limit + 1))])
            assertRejects("oversized embedded file") { try tooBig.encode(sendUserAgent: true) }
        }
    }

    func testSmallMessagesRoundTrip() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            var t = TransferMessage.request(hash: rng.hash(), offset: rng.next(), limit: rng.next(), transferID: TransferID(rng.bytes(16))!)
            XCTAssertEqual(try TransferMessage.decode(t.encode()), t)
            t = TransferMessage(control: .active, hash: rng.hash())
            t.data = rng.bytes(Int.random(in: 0...1500, using: &rng))
            XCTAssertEqual(try TransferMessage.decode(t.encode()), t)
            let g = GetBlockMessage.request(blockchain: testKeys.randomElement(using: &rng)!.publicKey, limitBlockCount: rng.next(),
                                            maxBlockSize: rng.next(), transferID: .random(),
                                            ranges: (0..<Int.random(in: 1...50, using: &rng)).map { _ in BlockRange(offset: rng.next(), count: rng.next()) })
            XCTAssertEqual(try GetBlockMessage.decode(g.encode()), g)
            let d = UDTDataPacket(sequence: UInt32.random(in: 0...0x7fff_ffff, using: &rng), boundary: UInt8.random(in: 0...3, using: &rng),
                                  inOrder: Bool.random(using: &rng), messageNumber: UInt32.random(in: 0...0x1fff_ffff, using: &rng),
                                  timestamp: UInt32.random(in: 0...UInt32.max, using: &rng), destinationSocketID: 5,
                                  payload: rng.bytes(Int.random(in: 0...UDTPacket.maxDataPayload, using: &rng)))
            XCTAssertEqual(try UDTPacket.decode(UDTPacket.data(d).encode()), .data(d))
            // The receive path's shortcut agrees with decode: sequence, and payload after the header.
            let encoded = UDTPacket.data(d).encode()
            XCTAssertEqual(UDTPacket.dataSequence(encoded), d.sequence)
            XCTAssertEqual(Array(encoded[UDTPacket.headerSize...]), d.payload)
            let nak = UDTControlPacket(timestamp: 1, destinationSocketID: 2,
                                       body: .nak((0..<Int.random(in: 0...50, using: &rng)).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }))
            XCTAssertEqual(try UDTPacket.decode(UDTPacket.control(nak).encode()), .control(nak))
            XCTAssertNil(UDTPacket.dataSequence(UDTPacket.control(nak).encode()), "a control packet")
            XCTAssertNil(UDTPacket.dataSequence(Array(encoded.prefix(UDTPacket.headerSize - 1))), "shorter than a header")
            let text = String(decoding: rng.bytes(40), as: UTF8.self)
            XCTAssertEqual(try ChatMessage.decode(ChatMessage.encode(text)), text)
        }
        assertRejects("get block without ranges") {
            try GetBlockMessage.request(blockchain: testKeys[0].publicKey, limitBlockCount: 1, maxBlockSize: 1,
                                        transferID: .random(), ranges: []).encode()
        }
    }

    func testPacketRoundTripForEveryCommand() throws {
        var rng = SplitMix64(seed: 99)
        for command in [Command.announcement, .response, .ping, .pong, .localDiscovery, .traverse, .getBlock, .transfer, .chat,
                        Command(rawValue: 200)] {
            for size in [0, 1, 500, 1200, 65000] {
                let packet = Packet(command: command, sequence: UInt32.random(in: 0...UInt32.max, using: &rng), payload: rng.bytes(size))
                let raw = try PacketCodec.encode(packet, sender: testKeys[0], receiver: testKeys[1].publicKey)
                let back = try PacketCodec.decode(raw, receiver: testKeys[1].publicKey)
                XCTAssertEqual(back.packet, packet)
                XCTAssertEqual(back.sender, testKeys[0].publicKey)
                // Decrypting with the wrong receiver key never yields the true sender and packet.
                if let wrong = try? PacketCodec.decode(raw, receiver: testKeys[2].publicKey) {
                    XCTAssertFalse(wrong.sender == testKeys[0].publicKey && wrong.packet == packet)
                }
            }
        }
        assertRejects("payload over 65430") {
            try PacketCodec.encode(Packet(command: .chat, sequence: 0, payload: [UInt8](repeating: 0, count: 65431)),
                                   sender: testKeys[0], receiver: testKeys[1].publicKey)
        }
    }
}
