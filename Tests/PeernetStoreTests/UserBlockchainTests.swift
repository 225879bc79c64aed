import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
@testable import PeernetStore
import PeernetSupport
import TestSupport
import XCTest

final class UserBlockchainTests: XCTestCase {
    let key = try! PrivateKey(hex: String(repeating: "01", count: 32))

    /// Replays every operation of blocks.json and compares header and blocks byte for byte,
    /// including both delete-and-rewrite cases.
    func testReplayingTheReferenceOperationsGivesTheSameChain() throws {
        let file = try Vectors.load("blocks.json")
        let states = file["chain_states"].array
        XCTAssertEqual(states.count, 7)
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data.url) }
        var store: LocalStore? = try LocalStore(dataDirectory: data, key: key)

        func check(_ chain: UserBlockchain, _ state: JSON) throws {
            let name = state["name"].string
            XCTAssertEqual(chain.height, state["header"]["height"].uint64, name)
            XCTAssertEqual(chain.version, state["header"]["version"].uint64, name)
            let raw = try XCTUnwrap(try chain.db.query("SELECT raw FROM chain_header").first?.first?.bytes)
            XCTAssertEqual(hexString(raw), state["header"]["raw"].string, name)
            for b in state["blocks"].array {
                XCTAssertEqual(try chain.block(b["number"].uint64).map(hexString), b["raw"].string, "\(name) block \(b["number"].int)")
            }
            XCTAssertNil(try chain.block(UInt64(state["blocks"].array.count)))
        }

        for state in states where state["deterministic"].bool {
            let op = state["operation"]
            let chain = store!.chain
            switch op["op"].string {
            case "Init": break
            case "AddFiles": try chain.addFiles(vectorFiles(op), date: unix(op["record_date"].string))
            case "ProfileWrite":
                try chain.writeProfile(op["fields"].array.map { ProfileField(field: UInt16($0["type"].int), value: $0["data"].bytes) },
                                       date: unix(op["record_date"].string))
            case "DeleteFiles":
                XCTAssertEqual(try chain.deleteFiles(ids: Set(op["ids"].array.map { TransferID(uuidString: $0.string)! })), 1)
            default: XCTFail("unknown op \(op["op"].string)")
            }
            try check(chain, state)
            // Survives reopening.
            store = nil
            store = try LocalStore(dataDirectory: data, key: key)
            try check(store!.chain, state)
        }

        // The non-deterministic state re-dates the re-encoded record with the current time:
        // replay it on a fresh chain with that time injected.
        let last = states[6]
        let data2 = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data2.url) }
        let other = try LocalStore(dataDirectory: data2, key: key)
        for state in states[1...4] {
            let op = state["operation"]
            if op["op"].string == "AddFiles" { try other.chain.addFiles(vectorFiles(op), date: unix(op["record_date"].string)) }
            if op["op"].string == "ProfileWrite" {
                try other.chain.writeProfile(op["fields"].array.map { ProfileField(field: UInt16($0["type"].int), value: $0["data"].bytes) },
                                             date: unix(op["record_date"].string))
            }
        }
        let redated = Int64(last["blocks"][0]["records"][0]["date_unix"].int)
        XCTAssertEqual(try other.chain.deleteFiles(ids: [TransferID(uuidString: "22222222-2222-4222-8222-222222222222")!], now: redated), 1)
        try check(other.chain, last)
    }

    func testProfileFilesAndFolders() throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data.url) }
        let store = try LocalStore(dataDirectory: data, key: key)
        let chain = store.chain
        try chain.writeProfile([ProfileField(field: ProfileField.name, value: Array("Alice".utf8))])
        try chain.writeProfile([ProfileField(field: ProfileField.name, value: Array("Alice B.".utf8)),
                                ProfileField(field: ProfileField.email, value: Array("a@b.c".utf8))])
        XCTAssertEqual(try chain.profile()[ProfileField.name], Array("Alice B.".utf8), "the latest record wins")
        XCTAssertEqual(try chain.deleteProfile(fields: [ProfileField.name]), 2)
        XCTAssertNil(try chain.profile()[ProfileField.name])
        XCTAssertEqual(try chain.profile()[ProfileField.email], Array("a@b.c".utf8))
        XCTAssertEqual(chain.version, 1)
        XCTAssertEqual(try chain.deleteProfile(fields: [ProfileField.name]), 0, "nothing matched: no rewrite")
        XCTAssertEqual(chain.version, 1)

        func file(_ name: String, folder: String) -> FileRecord {
            let h = Hash256.blake3(Array(name.utf8))
            return FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: 1, format: 10, size: 10,
                              tags: [FileTag(type: FileTag.name, text: name), FileTag(type: FileTag.folder, text: folder)])
        }
        let files = [file("a.txt", folder: "docs"), file("b.txt", folder: "docs"), file("c.txt", folder: "music")]
        try chain.addFiles(files)
        XCTAssertEqual(try chain.files(folder: "docs").map(\.name), ["a.txt", "b.txt"])
        XCTAssertEqual(try chain.files().count, 3)
        var renamed = files[0]
        renamed.tags[0] = FileTag(type: FileTag.name, text: "renamed.txt")
        try chain.replaceFiles([renamed])
        XCTAssertEqual(chain.version, 2)
        XCTAssertEqual(try chain.file(id: files[0].id)?.name, "renamed.txt")
        XCTAssertEqual(try chain.files().count, 3)
        // Every block verifies, links and carries the current version.
        var previous = Hash256.zero
        for n in 0..<chain.height {
            let decoded = try Block.decode(try XCTUnwrap(try chain.block(n)))
            XCTAssertEqual(decoded.owner, key.publicKey)
            XCTAssertEqual(decoded.block.previousHash, previous)
            XCTAssertEqual(decoded.block.version, chain.version)
            XCTAssertEqual(decoded.block.number, n)
            previous = decoded.hash
        }
    }

    func testSecondOpenOfTheSameDataDirectoryIsRefused() throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data.url) }
        let first = try LocalStore(dataDirectory: data, key: key)
        XCTAssertThrowsError(try LocalStore(dataDirectory: data, key: key)) {
            XCTAssertEqual($0 as? StoreError, .inUse(data.path))
        }
        _ = first
    }

    func testForeignHeaderIsDetectedAsCorrupt() throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data.url) }
        _ = try LocalStore(dataDirectory: data, key: key)
        XCTAssertThrowsError(try LocalStore(dataDirectory: data, key: PrivateKey()))
    }
}
