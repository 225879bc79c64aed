import Foundation
import PeernetBlockchain
import PeernetCrypto
@testable import PeernetExchange
import PeernetNode
import PeernetProtocol
@testable import PeernetStore
import Synchronization
import TestSupport
import XCTest

final class NetworkSearchTests: XCTestCase {
    func testKeywordRecordsAreSignedAndValidated() throws {
        let key = PrivateKey()
        let r = try KeywordRecord.signed(by: key, word: .blake3([1]), fileID: .random(), fileHash: .blake3([2]), fileSize: 5,
                                         chainVersion: 1, block: 2, expires: 2_000_000_000)
        XCTAssertTrue(r.isAuthentic)
        XCTAssertEqual(KeywordRecord.decode(r.encode()[...]), r)
        var forged = r
        forged.fileSize = 6
        XCTAssertFalse(forged.isAuthentic)
        var store = KeywordStore()
        XCTAssertEqual(store.store([forged], now: 1_999_999_000), 0, "forged records are not stored")
        XCTAssertEqual(store.store([r], now: 1_999_999_000), 1)
        XCTAssertEqual(store.store([r], now: 1_999_999_000), 1, "a repeat replaces, not duplicates")
        XCTAssertEqual(store.total, 1)
        let tooLong = try KeywordRecord.signed(by: key, word: .blake3([1]), fileID: .random(), fileHash: .blake3([2]), fileSize: 5,
                                               chainVersion: 1, block: 2, expires: 3_000_000_000)
        XCTAssertEqual(store.store([tooLong], now: 1_999_999_000), 0, "lifetime is capped")
        // One owner cannot flood a key.
        let flood = try (0..<100).map { _ in
            try KeywordRecord.signed(by: key, word: .blake3([1]), fileID: .random(), fileHash: .blake3([3]), fileSize: 1,
                                     chainVersion: 1, block: 0, expires: 2_000_000_000)
        }
        XCTAssertEqual(store.store(flood, now: 1_999_999_000), 31)
        let withdrawal = try KeywordRecord.signed(by: key, word: .blake3([1]), fileID: r.fileID, fileHash: r.fileHash, fileSize: 5,
                                                  chainVersion: 0, block: 0, expires: 0)
        _ = store.store([withdrawal], now: 1_999_999_000)
        XCTAssertFalse(store.find(.blake3([1]), now: 1_999_999_000, limit: 1000).contains(r))
        XCTAssertNil(SearchMessage.records([1, 5, 0, 1, 2]), "count beyond the bytes")
        let p = try ProviderRecord.signed(by: key, hash: .blake3([4]), fileSize: 10, expires: 2_000_000_000)
        XCTAssertTrue(p.isAuthentic)
        XCTAssertEqual(ProviderRecord.decode(p.encode()[...]), p)
        XCTAssertEqual(SearchMessage.providers(SearchMessage.storeProviders([p])), [p])
        XCTAssertNil(SearchMessage.keys([3, 200, 0]), "too many keys")
    }

    /// 30 nodes. Node 7 shares; node 23 (which does not fetch chains on its own, so it cannot
    /// know 7's files except through the DHT) finds the file by a word of its name, a CamelCase
    /// part and its exact full name; after 7 deletes it, it is no longer found.
    func testThirtyNodesFindAFileThroughTheDHT() async throws {
        let calm: (inout NodeConfig) -> Void = {
            $0.timings.pingInterval = 3
            $0.timings.invalidateAfter = 10
            $0.timings.blockchainRefresh = 2
            $0.timings.lookupRoundTimeout = 2
            $0.timings.lookupTimeout = 10
            $0.workers = 1
        }
        let root = try TestPeer(configure: calm)
        var all = [root]
        for i in 1..<30 { all.append(try TestPeer(roots: [root], autoSync: i != 23, configure: calm)) }
        let peers = all
        await eventually(30, "routing tables filled") { peers.allSatisfy { $0.node.routingTableSize >= 8 } }
        let sharer = peers[7], searcher = peers[23]
        let files = try sharer.share([("MyHolidayVideo_2021-final.mp4", [UInt8](repeating: 3, count: 1000)),
                                      ("Unrelated.txt", Array("x".utf8))], folder: "Trips")
        let informed = await sharer.search.publish(files)
        XCTAssertGreaterThan(informed, 3)
        XCTAssertEqual(try searcher.store.catalog.files(owner: sharer.publicKey).count, 0, "23 knows none of 7's files before the query")
        let wasConnected = searcher.node.isConnected(sharer.publicKey)

        let streamed = Mutex<[String]>([])
        for query in ["holiday", "Video", "\"MyHolidayVideo_2021-final.mp4\""] {
            let results = await searcher.search.search(query, timeout: 15) { batch in
                streamed.withLock { $0 += batch.map(\.entry.file.name) }
            }
            XCTAssertEqual(results.filter { $0.entry.owner == sharer.publicKey }.map(\.entry.file.name), ["MyHolidayVideo_2021-final.mp4"],
                           "query \(query) (23 was\(wasConnected ? "" : " not") connected to 7 before)")
        }
        XCTAssertTrue(streamed.withLock { $0 }.contains("MyHolidayVideo_2021-final.mp4"), "results were streamed")
        XCTAssertTrue(try searcher.store.catalog.search(SearchText.parseTerm("holiday")).allSatisfy { $0.entry.owner == sharer.publicKey })

        // Provider records: who holds the content.
        let holders = await searcher.search.findProviders(files[0].hash)
        XCTAssertEqual(holders.map(\.owner), [sharer.publicKey])
        XCTAssertEqual(holders.first?.fileSize, 1000)

        // Deleted: withdrawn from the DHT and gone from 7's chain.
        try sharer.store.unshare(ids: [files[0].id])
        sharer.exchange.publishChainState()
        await sharer.search.withdraw([files[0]])
        var gone = false
        let deadline = Date().addingTimeInterval(25)
        while !gone && Date() < deadline {
            let results = await searcher.search.search("holiday", timeout: 8)
            gone = !results.contains { $0.entry.owner == sharer.publicKey }
            if !gone { try await Task.sleep(for: .milliseconds(500)) }
        }
        XCTAssertTrue(gone, "a deleted file stops being found")
        let left = await searcher.search.findProviders(files[0].hash)
        XCTAssertEqual(left.count, 0, "the provider record was withdrawn")
        for p in peers { await p.stop() }
    }

    /// A restored backup holds an older version of our chain than peers cached, and peers
    /// never roll back: before, files added since were invisible until the version passed
    /// theirs by chance. Now the chain marker tells us, and we move above it.
    func testARestoredOlderChainMovesAboveTheVersionPeersHold() async throws {
        let root = try TestPeer()
        let others = try (0..<3).map { _ in try TestPeer(roots: [root]) }
        let key = PrivateKey()
        let dir = URL(fileURLWithPath: "/tmp/pn-ex-restore-\(UUID().uuidString.prefix(8))")
        let backup = URL(fileURLWithPath: dir.path + "-backup"), later = URL(fileURLWithPath: dir.path + "-later")
        defer { for d in [dir, backup, later] { try? FileManager.default.removeItem(at: d) } }
        var owner = try TestPeer(key: key, roots: [root], dir: dir)
        await eventually(10, "routing filled") { owner.node.routingTableSize >= 3 }
        let nothingNewer = await owner.search.adoptNewerPublishedVersion()
        XCTAssertNil(nothingNewer)
        let files = try owner.share([("holiday.jpg", [1, 2, 3]), ("notes.txt", [4, 5, 6])])
        await owner.search.publish(files)
        let v0 = owner.store.chain.version
        await owner.stop(removeData: false)
        try FileManager.default.copyItem(at: dir, to: backup)
        // (The same data, in a second directory: this process still holds the first one's lock.)
        try FileManager.default.copyItem(at: dir, to: later)
        owner = try TestPeer(key: key, roots: [root], dir: later)
        await eventually(10, "routing filled again") { owner.node.routingTableSize >= 3 }
        let sameVersion = await owner.search.adoptNewerPublishedVersion()
        XCTAssertNil(sameVersion)
        XCTAssertEqual(try owner.store.chain.deleteFiles(ids: [files[1].id]), 1)
        owner.exchange.publishChainState()
        await owner.search.withdraw([files[1]])
        let v1 = owner.store.chain.version
        XCTAssertGreaterThan(v1, v0)
        await eventually(10, "the root cached the newer chain") { (try? root.store.cache.header(key.publicKey))?.version == v1 }
        await owner.stop(removeData: false)

        let restored = try TestPeer(key: key, roots: [root], dir: backup)
        XCTAssertEqual(restored.store.chain.version, v0)
        await eventually(10, "routing filled after the restore") { restored.node.routingTableSize >= 3 }
        let seen = await restored.search.adoptNewerPublishedVersion()
        XCTAssertEqual(seen, v1)
        XCTAssertEqual(restored.store.chain.version, v1 + 1)
        XCTAssertEqual(try restored.store.chain.files().map(\.id).sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }),
                       files.map(\.id).sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }), "the backup's files, all kept")
        await eventually(10, "the root takes the restored chain") { (try? root.store.cache.header(key.publicKey))?.version == v1 + 1 }
        for p in [restored, root] + others { await p.stop() }
    }
}
