import PeernetCrypto
@testable import PeernetProtocol
import TestSupport
import XCTest

final class MessageVectorTests: XCTestCase {
    private func checkHeader(_ h: MessageHeader, _ d: JSON, _ name: String) {
        XCTAssertEqual(h.protocolVersion, UInt8(d["protocol"].int), name)
        XCTAssertEqual(h.features.rawValue, UInt8(d["features"].int), name)
        XCTAssertEqual(h.blockchainHeight, Fixture.uint64(d["blockchain_height"]), name)
        XCTAssertEqual(h.blockchainVersion, Fixture.uint64(d["blockchain_version"]), name)
        XCTAssertEqual(h.portInternal, UInt16(d["port_internal"].int), name)
        XCTAssertEqual(h.portExternal, UInt16(d["port_external"].int), name)
        XCTAssertEqual(h.userAgent, d["user_agent"].string, name)
    }

    func testAnnouncementVectors() throws {
        let file = try Vectors.load("messages.json")
        let vectors = file["announcements"].array
        XCTAssertEqual(vectors.count, 10)
        for v in vectors {
            let name = v["name"].string
            let input = v["encoder_input"]
            let announcement = Announcement(
                header: Fixture.header(input), findSelf: input["find_self"].bool,
                findPeer: input["find_peer"].array.map(Fixture.hash), findValue: input["find_value"].array.map(Fixture.hash),
                infoStore: input["info_store"].array.map {
                    InfoStoreRecord(hash: Fixture.hash($0["hash"]), size: $0["size"].uint64, type: UInt8($0["type"].int))
                })
            let parts = announcement.encode(sendUserAgent: input["send_user_agent"].bool)
            let expected = v["payloads"].array.map(\.bytes)
            XCTAssertEqual(parts.count, expected.count, name)
            XCTAssertEqual(parts.map(\.count), v["payload_sizes"].array.map(\.int), name)
            for (got, want) in zip(parts, expected) { XCTAssertEqual(hexString(got), hexString(want), name) }

            for (payload, d) in zip(expected, v["decoded"].array) {
                let a = try Announcement.decode(payload)
                checkHeader(a.header, d, name)
                XCTAssertEqual(a.findSelf, d["find_self"].bool, name)
                XCTAssertEqual(a.findPeer.map(\.hex), d["find_peer_keys"].array.map(\.string), name)
                XCTAssertEqual(a.findValue.map(\.hex), d["find_value_keys"].array.map(\.string), name)
                XCTAssertEqual(a.infoStore.map(\.hash.hex), d["info_store_files"].array.map { $0["hash"].string }, name)
                XCTAssertEqual(a.infoStore.map(\.size), d["info_store_files"].array.map { $0["size"].uint64 }, name)
            }
        }
    }

    private func checkPeers(_ got: [PeerRecord], _ want: [JSON], _ name: String) {
        XCTAssertEqual(got.count, want.count, name)
        for (p, w) in zip(got, want) {
            XCTAssertEqual(p.publicKey.hexString, w["public_key"].string, name)
            XCTAssertEqual(p.nodeID.hex, w["node_id"].string, name)
            XCTAssertEqual(p.ipv4.description, w["ipv4"].string, name)
            XCTAssertEqual(p.ipv6.description, w["ipv6"].string, name)
            XCTAssertEqual(p, Fixture.peer(w), name)
        }
    }

    private func response(from input: JSON) -> Response {
        Response(header: Fixture.header(input),
                 hashToPeers: input["hash2peers"].array.map {
                     HashToPeers(hash: Fixture.hash($0["id"]), storing: $0["storing"].array.map(Fixture.peer),
                                 closest: $0["closest"].array.map(Fixture.peer))
                 },
                 embeddedFiles: input["files_embed"].array.map { EmbeddedFile(hash: Fixture.hash($0["id"]), data: $0["data"].bytes) },
                 hashesNotFound: input["hashes_not_found"].array.map(Fixture.hash))
    }

    func testResponseVectors() throws {
        let file = try Vectors.load("messages.json")
        let vectors = file["responses"].array
        XCTAssertEqual(vectors.count, 10)
        for v in vectors {
            let name = v["name"].string
            let input = v["encoder_input"]
            let parts = try response(from: input).encode(sendUserAgent: input["send_user_agent"].bool)
            let expected = v["payloads"].array.map(\.bytes)
            XCTAssertEqual(parts.count, expected.count, name)
            for (got, want) in zip(parts, expected) {
                if name == "response_split_300_hashes" && got.count != want.count {
                    // The reference leaves 174 dead bytes of a half-written entry at the end of
                    // part 1; ours is the same part without them.
                    XCTAssertEqual(want.count - got.count, 34 + 2 * 70, name)
                    XCTAssertTrue(want.starts(with: got), name)
                } else {
                    XCTAssertEqual(hexString(got), hexString(want), name)
                }
            }
            for (payload, d) in zip(expected, v["decoded"].array) {
                let r = try Response.decode(payload)
                checkHeader(r.header, d, name)
                XCTAssertEqual(r.sequenceLast, d["sequence_last"].bool, name)
                let entries = d["hash2peers"].array
                XCTAssertEqual(r.hashToPeers.count, entries.count, name)
                for (e, w) in zip(r.hashToPeers, entries) {
                    XCTAssertEqual(e.hash.hex, w["id"].string, name)
                    XCTAssertEqual(e.isLast, w["is_last"].bool, name)
                    checkPeers(e.storing, w["storing"].array, name)
                    checkPeers(e.closest, w["closest"].array, name)
                }
                XCTAssertEqual(r.embeddedFiles.map(\.hash.hex), d["files_embed"].array.map { $0["id"].string }, name)
                XCTAssertEqual(r.embeddedFiles.map(\.data), d["files_embed"].array.map { $0["data"].bytes }, name)
                XCTAssertEqual(r.hashesNotFound.map(\.hex), d["hashes_not_found"].array.map(\.string), name)
            }
        }
    }

    func testTraverseVector() throws {
        let file = try Vectors.load("messages.json")
        let v = file["traverse"][0]
        let signer = try PrivateKey(hex: String(repeating: "01", count: 32))
        let target = try PublicKey(hex: v["target_peer"].string)
        let relay = try PublicKey(hex: v["authorized_relay_peer"].string)
        // RFC 6979 makes the signature deterministic: the same expiry gives the same bytes.
        var t = try Traverse.signed(by: signer, target: target, relay: relay, expires: v["expires_unix"].uint64,
                                    embeddedPacket: v["embedded_packet_raw"].bytes)
        XCTAssertEqual(hexString(t.encode()), v["payload"].string)
        t.ipv4 = IPv4Address(v["set_ipv4"].string)!
        t.portIPv4 = UInt16(v["set_port_ipv4"].int)
        t.portIPv4ReportedExternal = UInt16(v["set_port_ipv4_reported_external"].int)
        t.ipv6 = IPv6Address(v["set_ipv6"].string)!
        t.portIPv6 = UInt16(v["set_port_ipv6"].int)
        t.portIPv6ReportedExternal = UInt16(v["set_port_ipv6_reported_external"].int)
        XCTAssertEqual(hexString(t.encode()), v["payload_with_address"].string)

        let decoded = try Traverse.decode(v["payload_with_address"].bytes)
        XCTAssertEqual(decoded.signer?.hexString, v["decoded_signer_public_key"].string)
        XCTAssertEqual(decoded.ipv4.description, v["decoded_ipv4"].string)
        XCTAssertEqual(decoded.ipv6.description, v["decoded_ipv6"].string)
        XCTAssertEqual(decoded.embeddedPacket, v["embedded_packet_raw"].bytes)
        XCTAssertEqual(decoded, t)
        // The address fields are outside the signature: changing them keeps the signer.
        var moved = v["payload_with_address"].bytes
        moved[moved.count - 10] ^= 0xff  // inside the relay-filled IPv6 field
        XCTAssertEqual(try Traverse.decode(moved).signer, signer.publicKey)
        // A change inside the signed part yields another signer (or none).
        var forged = v["payload_with_address"].bytes
        forged[70] ^= 1
        XCTAssertNotEqual(try? Traverse.decode(forged).signer, signer.publicKey)
    }

    func testTransferAndGetBlockVectors() throws {
        let file = try Vectors.load("transfer.json")
        for v in file["transfer"].array {
            let name = v["name"].string
            var m = TransferMessage(control: TransferMessage.Control(rawValue: UInt8(v["control"].int))!,
                                    hash: Fixture.hash(v["hash"]), transferProtocol: UInt8(v["transfer_protocol"].int))
            if m.control == .requestStart {
                m.offset = Fixture.uint64(v["offset"])
                m.limit = v["limit"].uint64
                m.transferID = Fixture.transferID(v["transfer_id"])
            }
            m.data = v["data"].bytes
            XCTAssertEqual(hexString(try m.encode()), v["payload"].string, name)
            let d = try TransferMessage.decode(v["payload"].bytes)
            let w = v["decoded"]
            XCTAssertEqual(d.control.rawValue, UInt8(w["control"].int), name)
            XCTAssertEqual(d.hash.hex, w["hash"].string, name)
            XCTAssertEqual(d.offset, Fixture.uint64(w["offset"]), name)
            XCTAssertEqual(d.limit, w["limit"].uint64, name)
            XCTAssertEqual(d.transferID.uuidString, w["transfer_id"].string, name)
            XCTAssertEqual(d.data, w["data"].bytes, name)
            XCTAssertEqual(d.isLast, w["is_last"].bool, name)
        }
        for v in file["get_block"].array {
            let name = v["name"].string
            var m = GetBlockMessage(control: GetBlockMessage.Control(rawValue: UInt8(v["control"].int))!,
                                    blockchainPublicKey: try PublicKey(hex: v["blockchain_public_key"].string))
            if m.control == .requestStart {
                m.limitBlockCount = v["limit_block_count"].uint64
                m.maxBlockSize = v["max_block_size"].uint64
                m.transferID = Fixture.transferID(v["transfer_id"])
                m.targetBlocks = v["target_blocks"].array.map { BlockRange(offset: $0["offset"].uint64, count: $0["limit"].uint64) }
            }
            m.data = v["data"].bytes
            XCTAssertEqual(hexString(try m.encode()), v["payload"].string, name)
            let d = try GetBlockMessage.decode(v["payload"].bytes)
            let w = v["decoded"]
            XCTAssertEqual(d.control.rawValue, UInt8(w["control"].int), name)
            XCTAssertEqual(d.blockchainPublicKey.hexString, w["blockchain_public_key"].string, name)
            XCTAssertEqual(d.limitBlockCount, w["limit_block_count"].uint64, name)
            XCTAssertEqual(d.maxBlockSize, w["max_block_size"].uint64, name)
            XCTAssertEqual(d.transferID.uuidString, w["transfer_id"].string, name)
            XCTAssertEqual(d.targetBlocks.map(\.offset), w["target_blocks"].array.map { $0["offset"].uint64 }, name)
            XCTAssertEqual(d.targetBlocks.map(\.count), w["target_blocks"].array.map { $0["limit"].uint64 }, name)
            XCTAssertEqual(d.data, w["data"].bytes, name)
            XCTAssertEqual(d.isLast, w["is_last"].bool, name)
        }
        XCTAssertEqual(file["constants"]["EmbeddedFileSizeMax"].int, 65349)
        XCTAssertEqual(file["constants"]["TransferMaxEmbedSize"].int, WireLimits.transferEmbed)
        XCTAssertEqual(file["constants"]["TransferMaxEmbedSizeLite"].int, WireLimits.litePacketData)
        XCTAssertEqual(file["constants"]["PacketLengthMin"].int, WireLimits.packetMinimum)
    }

    /// The `raw` fields of transfer.json's stream_headers are all the same 16/25 bytes whatever
    /// the fields (a defect of the generator, noted in the issue), so the layout is pinned here
    /// from the specification (transfer.md §4.3, data.md §2.4) instead.
    func testStreamHeadersLayout() throws {
        let f = FileTransferHeader(fileSize: 67_108_864, transferSize: 4096)
        XCTAssertEqual(hexString(f.encode()), "0000000400000000" + "0010000000000000")
        XCTAssertEqual(try FileTransferHeader.decode(f.encode()), f)
        assertRejects("transfer larger than file") { try FileTransferHeader.decode(FileTransferHeader(fileSize: 1, transferSize: 2).encode()) }
        let b = BlockTransferHeader(availability: .sizeExceeded, blockNumber: 2, blockSize: 99_999)
        XCTAssertEqual(hexString(b.encode()), "02" + "0200000000000000" + "0100000000000000" + "9f86010000000000")
        XCTAssertEqual(try BlockTransferHeader.decode(b.encode()), b)
        assertRejects("availability 3") { try BlockTransferHeader.decode([3] + [UInt8](repeating: 0, count: 24)) }
        assertRejects("short block header") { try BlockTransferHeader.decode([0, 1, 2]) }
    }

    func testUDTVectors() throws {
        let file = try Vectors.load("udt.json")
        let liteID = TransferID(uuidString: "00112233-4455-6677-8899-aabbccddeeff")!
        let vectors = file["packets"].array
        XCTAssertEqual(vectors.count, 11)
        for v in vectors {
            let name = v["name"].string
            let f = v["fields"]
            let ts = UInt32(f["timestamp"].int), dst = UInt32(f["dst_sock_id"].int)
            let packet: UDTPacket
            switch v["packet_type"].string {
            case "handshake":
                var h = UDTHandshake()
                h.udtVersion = UInt32(f["udt_version"].int)
                h.socketType = UInt32(f["socket_type"].int)
                h.initialSequence = UInt32(f["initial_packet_seq"].int)
                h.maxFlowWindow = UInt32(f["max_flow_window_size"].int)
                h.requestType = Int32(f["request_type"].int)
                h.socketID = UInt32(f["socket_id"].int)
                packet = .control(UDTControlPacket(timestamp: ts, destinationSocketID: dst, body: .handshake(h)))
            case "data":
                packet = .data(UDTDataPacket(sequence: UInt32(f["seq"].int), boundary: UInt8(f["message_boundary"].int),
                                             inOrder: f["in_order"].bool, messageNumber: UInt32(f["message_number"].int),
                                             timestamp: ts, destinationSocketID: dst, payload: pattern(f["data_size"].int)))
            case "ack":
                let link = f["include_link"].bool
                packet = .control(UDTControlPacket(timestamp: ts, destinationSocketID: dst, body: .ack(UDTAck(
                    ackSequence: UInt32(f["ack_seq_no"].int), ackNumber: UInt32(f["packet_seq_hi"].int),
                    rttMicroseconds: UInt32(f["rtt_us"].int), rttVarianceMicroseconds: UInt32(f["rtt_var_us"].int),
                    availableBuffer: UInt32(f["buffer_available"].int),
                    packetReceiveRate: link ? UInt32(f["packet_recv_rate"].int) : nil,
                    linkCapacity: link ? UInt32(f["est_link_capacity"].int) : nil))))
            case "ack2":
                packet = .control(UDTControlPacket(timestamp: ts, destinationSocketID: dst, body: .ack2(ackSequence: UInt32(f["ack_seq_no"].int))))
            case "nak":
                packet = .control(UDTControlPacket(timestamp: ts, destinationSocketID: dst,
                                                   body: .nak(f["compressed_loss_info"].array.map { UInt32($0.uint64) })))
            case "keep-alive":
                packet = .control(UDTControlPacket(timestamp: ts, destinationSocketID: dst, body: .keepAlive))
            case "shutdown":
                packet = .control(UDTControlPacket(timestamp: ts, destinationSocketID: dst, body: .shutdown))
            default:
                XCTFail("unknown UDT vector type \(v["packet_type"].string)")
                continue
            }
            XCTAssertEqual(hexString(packet.encode()), v["raw"].string, name)
            XCTAssertEqual(try UDTPacket.decode(v["raw"].bytes), packet, name)
            XCTAssertEqual(hexString(try LitePacket(id: liteID, data: packet.encode()).encode()), v["lite_packet_raw"].string, name)
        }
    }
}
