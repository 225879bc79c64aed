import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
@testable import PeernetStore
import PeernetSupport
import TestSupport
import XCTest

/// The remote-chain cache against replays and fake announcements (issue 14 items 5 and 6).
final class ChainCacheTests: XCTestCase {
    func makeStore() throws -> LocalStore { try LocalStore(dataDirectory: try temporaryDataDirectory(), key: PrivateKey()) }

    func file(_ name: String) -> FileRecord {
        let h = Hash256.blake3(Array(name.utf8))
        return FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: 1, format: 10, size: 5,
                          tags: [FileTag(type: FileTag.name, text: name)])
    }

    func cacheAll(_ viewer: LocalStore, of owner: LocalStore) throws -> ChainCache.Assessment {
        let a = try viewer.cache.assess(owner: owner.chain.owner, version: owner.chain.version, height: owner.chain.height)
        if case .download(let from, let count) = a {
            for n in from..<(from + count) { try viewer.cache.ingest(owner: owner.chain.owner, number: n, raw: try XCTUnwrap(owner.chain.block(n))) }
        }
        return a
    }

    /// A cached chain at version 1 is not replaced by version 0 offered later (by a restored
    /// backup of the owner, or anyone replaying its old announcement): deleted files stay gone.
    func testAnOlderVersionNeverReplacesTheCachedChain() throws {
        let owner = try makeStore(), viewer = try makeStore()
        let secret = file("deleted-secret.txt")
        try owner.chain.addFiles([file("kept.txt"), secret])
        let oldBlocks = try (0..<owner.chain.height).map { try XCTUnwrap(owner.chain.block($0)) }
        let (oldVersion, oldHeight) = (owner.chain.version, owner.chain.height)
        try owner.chain.deleteFiles(ids: [secret.id])
        XCTAssertEqual(owner.chain.version, oldVersion + 1)
        guard case .download = try cacheAll(viewer, of: owner) else { return XCTFail("version 1 not fetched") }
        XCTAssertEqual(try viewer.catalog.files(owner: owner.chain.owner).map(\.file.name), ["kept.txt"])
        // Version 0 is offered again: refused, nothing dropped, nothing to fetch.
        XCTAssertEqual(try viewer.cache.assess(owner: owner.chain.owner, version: oldVersion, height: oldHeight), .olderThanCached)
        XCTAssertEqual(try viewer.cache.header(owner.chain.owner)?.version, oldVersion + 1)
        XCTAssertEqual(try viewer.catalog.files(owner: owner.chain.owner).map(\.file.name), ["kept.txt"])
        // Its old block cannot be slipped in either: it carries the old version.
        XCTAssertThrowsError(try viewer.cache.ingest(owner: owner.chain.owner, number: 0, raw: oldBlocks[0]))
        // A shorter chain of the same version is refused the same way.
        XCTAssertEqual(try viewer.cache.assess(owner: owner.chain.owner, version: owner.chain.version, height: 0), .olderThanCached)
        XCTAssertEqual(try viewer.catalog.files(owner: owner.chain.owner).count, 1)
    }

    /// Announcing a chain and never delivering a block leaves no header: 2,000 fake identities
    /// once left 2,000 permanent empty folders in peers/.
    func testHeadersWithoutBlocksDoNotStay() throws {
        let viewer = try makeStore()
        for _ in 0..<50 {
            guard case .download = try viewer.cache.assess(owner: PrivateKey().publicKey, version: 0, height: 7) else { return XCTFail() }
        }
        let real = try makeStore()
        try real.chain.addFiles([file("a.txt")])
        _ = try cacheAll(viewer, of: real)
        XCTAssertEqual(try viewer.cache.owners().count, 51)
        XCTAssertEqual(try viewer.cache.dropEmptyHeaders(), 50)
        XCTAssertEqual(try viewer.cache.owners(), [real.chain.owner])
    }

    /// A batch with a forged block in the middle keeps the blocks around it and nothing of the
    /// forged one; a signed block whose file record does not decode is refused the same way,
    /// before anything of it is written (the batch has no savepoint per block to undo it).
    func testABatchKeepsItsValidBlocksAndNothingOfARejectedOne() throws {
        let key = PrivateKey()
        let owner = try LocalStore(dataDirectory: try temporaryDataDirectory(), key: key), viewer = try makeStore()
        for name in ["zero.txt", "one.txt", "two.txt"] { try owner.chain.addFiles([file(name)]) }
        XCTAssertEqual(owner.chain.height, 3)
        let genuine = try (0..<UInt64(3)).map { (number: $0, raw: try XCTUnwrap(owner.chain.block($0))) }
        var forged = genuine
        forged[1].raw[70] ^= 0xff
        let decoded = try Block.decode(genuine[1].raw).block
        var undecodable = decoded
        undecodable.records = [BlockRecord(type: .file, date: 0, data: [1, 2, 3])]
        let names = { try Set(viewer.catalog.files(owner: owner.chain.owner).map(\.file.name)) }
        for (label, middle) in [("bad signature", forged[1].raw), ("file record", try undecodable.encode(signer: key))] {
            try viewer.cache.drop(owner.chain.owner)
            guard case .download = try viewer.cache.assess(owner: owner.chain.owner, version: owner.chain.version, height: 3) else {
                return XCTFail(label)
            }
            let result = try viewer.cache.ingest(owner: owner.chain.owner, blocks: [genuine[0], (1, middle), genuine[2]])
            XCTAssertEqual(result.stored, 2, label)
            XCTAssertEqual(result.rejected.map(\.number), [1], label)
            XCTAssertEqual(try names(), ["zero.txt", "two.txt"], label)
            XCTAssertNil(try viewer.cache.block(owner.chain.owner, number: 1), label)
            XCTAssertEqual(try viewer.cache.header(owner.chain.owner)?.blocks, 2, label)
            // The genuine block still fits between the two.
            try viewer.cache.ingest(owner: owner.chain.owner, number: 1, raw: genuine[1].raw)
            XCTAssertEqual(try names(), ["zero.txt", "one.txt", "two.txt"], label)
        }
    }
}
