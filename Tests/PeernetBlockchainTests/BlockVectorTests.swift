import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import TestSupport
import Foundation
import XCTest

final class BlockVectorTests: XCTestCase {
    let ownerKey = try! PrivateKey(hex: String(repeating: "01", count: 32))

    func testEveryBlockDecodesAndReencodesByteForByte() throws {
        let file = try Vectors.load("blocks.json")
        var checked = 0
        for state in file["chain_states"].array {
            let name = state["name"].string
            let header = state["header"]
            XCTAssertEqual(hexString(try ChainHeader(height: header["height"].uint64, version: header["version"].uint64).encode(signer: ownerKey)),
                           header["raw"].string, name)
            XCTAssertEqual(try ChainHeader.decode(header["raw"].bytes, owner: ownerKey.publicKey),
                           ChainHeader(height: header["height"].uint64, version: header["version"].uint64))
            var previous = Hash256.zero
            for b in state["blocks"].array {
                let raw = b["raw"].bytes
                let decoded = try Block.decode(raw)
                XCTAssertEqual(decoded.owner.hexString, b["owner_public_key"].string, name)
                XCTAssertEqual(decoded.hash.hex, b["block_hash"].string, name)
                XCTAssertEqual(decoded.block.number, b["number"].uint64, name)
                XCTAssertEqual(decoded.block.version, b["blockchain_version"].uint64, name)
                XCTAssertEqual(decoded.block.previousHash.hex, b["last_block_hash"].string, name)
                XCTAssertEqual(decoded.block.previousHash, previous, "\(name): linkage")
                previous = decoded.hash
                XCTAssertEqual(decoded.block.records.count, b["record_count"].int, name)
                for (r, w) in zip(decoded.block.records, b["records"].array) {
                    XCTAssertEqual(Int(r.type.rawValue), w["type"].int, name)
                    XCTAssertEqual(r.date, Int64(w["date_unix"].int), name)
                    XCTAssertEqual(r.data, w["data"].bytes, name)
                }
                let files = try decoded.block.files()
                let wantFiles = b["decoded_files"].array
                XCTAssertEqual(files.count, wantFiles.count, name)
                for (f, w) in zip(files, wantFiles) {
                    XCTAssertEqual(f.hash.hex, w["hash"].string, name)
                    XCTAssertEqual(f.id.uuidString, w["id"].string, name)
                    XCTAssertEqual(f.merkleRoot.hex, w["merkle_root_hash"].string, name)
                    XCTAssertEqual(f.fragmentSize, w["fragment_size"].uint64, name)
                    XCTAssertEqual(Int(f.type), w["type"].int, name)
                    XCTAssertEqual(Int(f.format), w["format"].int, name)
                    XCTAssertEqual(f.size, w["size"].uint64, name)
                    XCTAssertEqual(f.tags.map { Int($0.type) }, w["tags"].array.map { $0["type"].int }, name)
                    XCTAssertEqual(f.tags.map(\.data), w["tags"].array.map { $0["data"].bytes }, name)
                }
                let profile = try decoded.block.profileFields()
                XCTAssertEqual(profile.map { Int($0.field) }, b["decoded_profile"].array.map { $0["type"].int }, name)
                XCTAssertEqual(profile.map(\.value), b["decoded_profile"].array.map { $0["data"].bytes }, name)
                // RFC 6979 signatures: re-encoding the decoded block gives the same bytes.
                XCTAssertEqual(hexString(try decoded.block.encode(signer: ownerKey)), b["raw"].string, name)
                checked += 1
            }
        }
        XCTAssertEqual(checked, 17)
    }

    /// The file groups of the AddFiles operations encode to exactly the reference's records
    /// (TagData for repeated values, in order of second occurrence; references as int16).
    func testFileGroupsEncodeLikeTheReference() throws {
        let file = try Vectors.load("blocks.json")
        for state in file["chain_states"].array where state["operation"]["op"].string == "AddFiles" {
            let op = state["operation"]
            let date = Int64(state["blocks"].array.last!["records"][0]["date_unix"].int)
            let files = op["files"].array.map { f -> FileRecord in
                var tags: [FileTag] = [FileTag(type: FileTag.name, text: f["name"].string)]
                if f["folder"].exists { tags.append(FileTag(type: FileTag.folder, text: f["folder"].string)) }
                if f["description"].exists { tags.append(FileTag(type: FileTag.description, text: f["description"].string)) }
                if f["date_created"].exists {
                    let d = ISO8601DateFormatter().date(from: f["date_created"].string)!
                    tags.append(FileTag(type: FileTag.dateCreated, date: Int64(d.timeIntervalSince1970)))
                }
                for extra in f["extra_tags"].array { tags.append(FileTag(type: UInt16(extra["type"].int), data: extra["data"].bytes)) }
                return FileRecord(hash: Hash256(hexBytes(f["hash"].string))!, id: TransferID(uuidString: f["id"].string)!,
                                  merkleRoot: Hash256(hexBytes(f["merkle_root_hash"].string))!, fragmentSize: f["fragment_size"].uint64,
                                  type: UInt8(f["type"].int), format: UInt16(f["format"].int), size: f["size"].uint64, tags: tags)
            }
            let records = FileRecordCodec.encode(files, date: date)
            let want = state["blocks"].array.last!["records"].array
            XCTAssertEqual(records.count, want.count, state["name"].string)
            for (r, w) in zip(records, want) {
                XCTAssertEqual(hexString(r.data), w["data"].string, state["name"].string)
                XCTAssertEqual(Int(r.type.rawValue), w["type"].int)
            }
        }
    }

    /// data.md §1.12: the worked example with the reference's published test key.
    func testSpecWorkedExample() throws {
        let key = try PrivateKey(hex: "d65da474861d826edd29c1307f1250d79e9dbf84e3a2449022658445c8d8ed63")
        let date: Int64 = 1_700_000_000
        func file(_ content: String, _ id: String, _ name: String, created: Int64?) -> FileRecord {
            var tags = [FileTag(type: FileTag.name, text: name), FileTag(type: FileTag.folder, text: "docs/shared")]
            if let created { tags.append(FileTag(type: FileTag.dateCreated, date: created)) }
            let h = Hash256.blake3(Array(content.utf8))
            return FileRecord(hash: h, id: TransferID(uuidString: id)!, merkleRoot: h, fragmentSize: 262_144, type: 1, format: 10,
                              size: UInt64(content.utf8.count), tags: tags)
        }
        let files = [file("hello", "11111111-2222-3333-4444-555555555555", "a.txt", created: 1_600_000_000),
                     file("world!", "66666666-7777-8888-9999-aaaaaaaaaaaa", "b.txt", created: nil)]
        let records = [ProfileField(field: 0, value: Array("Alice".utf8)).record(date: date)]
            + FileRecordCodec.encode(files, date: date, startIndex: 1)
        let raw = try Block(previousHash: .zero, version: 0, number: 0, records: records).encode(signer: key)
        XCTAssertEqual(raw.count, 443)
        XCTAssertEqual(hexString(raw.prefix(65)), "20c9c9ce5cc41fddd769efc2c033b0e6f343a970090823d1812cc715df05447e65373696763eb1b29b57e4a9fe466e1a087a315801cba072faa4b58c577f75dff9")
        XCTAssertEqual(Hash256.blake3(raw).hex, "085fdd7eed087fcfd3a32526538d279aff667b5e921392ccabbb467797f65942")
        let header = try ChainHeader(height: 2, version: 0).encode(signer: key)
        XCTAssertEqual(hexString(header.suffix(65)), "20ab9e4d23d015f5da35c56fae24acee2234bbb47c1336a5966342c10a7c87d404788ced5788cc6b803a4169d6bf3fdba64489a4a4f9376bf91053617b3f3aab29")
    }
}
