import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
@testable import PeernetStore
import TestSupport
import XCTest

final class WarehouseTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = URL(fileURLWithPath: "/tmp/pn-wh-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testImportDeduplicatesReadsRangesAndKeepsTheTree() throws {
        let warehouse = try Warehouse(root: dir.appendingPathComponent("wh"))
        let data = (0..<(3 * 262_144 + 1234)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 9)) }
        let source = dir.appendingPathComponent("src.bin")
        try Data(data).write(to: source)
        var progressed: UInt64 = 0
        let first = try warehouse.importFile(at: source.path) { progressed = $0 }
        XCTAssertEqual(progressed, UInt64(data.count))
        XCTAssertEqual(first.hash, Hash256.blake3(data))
        XCTAssertEqual(first.merkle, MerkleTree(data: data))
        XCTAssertTrue(first.isNew)
        XCTAssertEqual(warehouse.path(for: first.hash).dropFirst(warehouse.root.path.count + 1).split(separator: "/").map(\.count), [4, 4, 56])
        XCTAssertEqual(try warehouse.merkleTree(first.hash), first.merkle, "companion written and readable")
        let again = try warehouse.importData(data)
        XCTAssertFalse(again.isNew, "identical content is stored once")
        XCTAssertEqual(warehouse.allHashes(), [first.hash])
        XCTAssertEqual(try warehouse.read(first.hash, offset: 262_140, length: 10), Array(data[262_140..<262_150]))
        XCTAssertEqual(try warehouse.read(first.hash, offset: UInt64(data.count - 3), length: 100), Array(data.suffix(3)))
        XCTAssertThrowsError(try warehouse.read(first.hash, offset: UInt64(data.count + 1), length: 1))
        // Small and empty files: no companion, root = file hash.
        let small = try warehouse.importData(Array("hello".utf8))
        XCTAssertEqual(small.merkle.root, small.hash)
        XCTAssertFalse(FileManager.default.fileExists(atPath: warehouse.path(for: small.hash) + ".merkle"))
        let empty = try warehouse.importData([])
        XCTAssertEqual(empty.hash.hex, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
        XCTAssertEqual(try warehouse.read(empty.hash, offset: 0, length: 10), [])
        XCTAssertEqual(warehouse.collectGarbage(keep: [first.hash]), 2)
        XCTAssertEqual(warehouse.allHashes(), [first.hash])
        warehouse.delete(first.hash)
        XCTAssertFalse(warehouse.contains(first.hash))
        XCTAssertFalse(FileManager.default.fileExists(atPath: warehouse.path(for: first.hash) + ".merkle"))
        XCTAssertThrowsError(try warehouse.importFile(at: dir.appendingPathComponent("missing").path))
        XCTAssertThrowsError(try warehouse.importFile(at: dir.path))
    }

    /// A share-folder file hashed by its import counts as checked (a first serve need not
    /// hash it again) when its change time was over 2 s old as the import began; a file
    /// written just before is not, and neither is one written after the import.
    func testTheImportOfASettledShareFolderFileIsItsCheck() throws {
        let warehouse = try Warehouse(root: dir.appendingPathComponent("wh-checked"))
        func write(_ name: String, _ text: String) throws -> String {
            let url = dir.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            return url.path
        }
        func imported(_ path: String) throws -> Warehouse.Imported {
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            return try warehouse.importLinked(descriptor: fd, path: Array(path.utf8), label: path)
        }
        func checked(_ i: Warehouse.Imported) -> Bool {
            warehouse.version(of: i.hash).map { warehouse.isChecked(i.hash, version: $0) } ?? false
        }
        let settled = try write("settled.bin", "written 2 s before its import")
        let later = try write("later.bin", "written 2 s before its import, and again after")
        usleep(2_100_000)
        let fresh = try imported(try write("fresh.bin", "written just before its import"))
        XCTAssertFalse(checked(fresh), "a write in the same tick could go unseen")
        XCTAssertTrue(checked(try imported(settled)))
        let changed = try imported(later)
        XCTAssertTrue(checked(changed))
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: later))
        try handle.write(contentsOf: Data("W".utf8))
        try handle.close()
        XCTAssertFalse(checked(changed), "written since its import")
    }

    /// Links to share-folder files: a small file's link makes no folder (it is in `_Links`);
    /// a link written beside the content by an earlier version is still served, follows a
    /// rename into `_Links`, and goes with delete; garbage collection sees both.
    func testLinksLiveInOneFolderAndOlderLinksStillServe() throws {
        let warehouse = try Warehouse(root: dir.appendingPathComponent("wh"))
        func linked(_ name: String, _ text: String) throws -> (Warehouse.Imported, [UInt8]) {
            let path = Array(dir.appendingPathComponent(name).path.utf8)
            try Data(text.utf8).write(to: dir.appendingPathComponent(name))
            let fd = open(dir.appendingPathComponent(name).path, O_RDONLY)
            defer { close(fd) }
            return (try warehouse.importLinked(descriptor: fd, path: path, label: name), path)
        }
        let (small, _) = try linked("small.txt", "a small file")
        XCTAssertTrue(FileManager.default.fileExists(atPath: warehouse.root.path + "/_Links/\(small.hash.hex).link"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: (warehouse.path(for: small.hash) as NSString).deletingLastPathComponent), "no folder made for it")
        XCTAssertEqual(try warehouse.read(small.hash, offset: 0, length: 100), Array("a small file".utf8))
        // An older link, beside the content.
        let (old, oldPath) = try linked("old.txt", "linked by an older version")
        try FileManager.default.createDirectory(atPath: (warehouse.path(for: old.hash) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        XCTAssertEqual(rename(warehouse.linkPath(for: old.hash), warehouse.path(for: old.hash) + ".link"), 0)
        XCTAssertEqual(try warehouse.read(old.hash, offset: 0, length: 100), Array("linked by an older version".utf8))
        XCTAssertEqual(Set(warehouse.allHashes()), [small.hash, old.hash])
        let moved = dir.appendingPathComponent("moved.txt").path
        XCTAssertEqual(rename(String(decoding: oldPath, as: UTF8.self), moved), 0)
        XCTAssertTrue(warehouse.relink(old.hash, to: Array(moved.utf8)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: warehouse.path(for: old.hash) + ".link"), "the older link went")
        XCTAssertTrue(warehouse.contains(old.hash))
        XCTAssertEqual(warehouse.collectGarbage(keep: [old.hash]), 1)
        XCTAssertEqual(warehouse.allHashes(), [old.hash])
        warehouse.delete(old.hash)
        XCTAssertFalse(warehouse.contains(old.hash))
        XCTAssertEqual(warehouse.allHashes(), [])
    }

    func testLeftoverTemporaryFilesAreRemovedOnOpen() throws {
        let root = dir.appendingPathComponent("wh")
        _ = try Warehouse(root: root)
        let stale = root.appendingPathComponent("_Temp/import-123-456")
        _ = FileManager.default.createFile(atPath: stale.path, contents: Data([1, 2, 3]))
        _ = try Warehouse(root: root)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))
    }
}

final class SearchIndexTests: XCTestCase {
    /// Indexes the reference's test files and runs its terms: the same files are found.
    func testReferenceSearchResults() throws {
        let file = try Vectors.load("search.json")
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data.url) }
        let key = PrivateKey()
        let store = try LocalStore(dataDirectory: data, key: key)
        let ids = file["file_ids"].object.sorted { $0.key < $1.key }.map(\.key)
        var records: [FileRecord] = []
        for (i, f) in file["filenames"].array.enumerated() {
            let h = Hash256.blake3([UInt8(i)])
            records.append(FileRecord(hash: h, id: TransferID(uuidString: ids[i])!, merkleRoot: h, fragmentSize: 262_144, type: 1,
                                      format: 10, size: UInt64(i),
                                      tags: [FileTag(type: FileTag.name, data: f["filename"]["hex"].bytes),
                                             FileTag(type: FileTag.folder, data: f["folder"]["hex"].bytes),
                                             FileTag(type: FileTag.description, data: f["description"]["hex"].bytes)]))
        }
        try store.chain.addFiles(records)
        for t in file["terms"].array {
            let term = SearchText.parseTerm(SearchText.sanitize(t["term"]["hex"].bytes))
            let results = try store.catalog.search(term)
            let want = t["search_results_against_index"].array
            // We find what the reference finds, with its selectors; beyond it only what our
            // additions match: word prefixes of 3+ letters and file extensions (issue 16).
            let wantIDs = Set(want.map { $0["file_id"].string })
            XCTAssertTrue(wantIDs.isSubset(of: Set(results.map(\.entry.file.id.uuidString))), t["term"]["text"].string)
            let queryWords = Set(term.allKeys.map(\.word))
            for extra in results where !wantIDs.contains(extra.entry.file.id.uuidString) {
                let ext = SearchText.fileExtension(extra.entry.file.name)
                let byPrefixOrExtension = extra.words.allSatisfy { w in w == ext || queryWords.contains { w.hasPrefix($0) } }
                XCTAssertTrue(byPrefixOrExtension, "\(t["term"]["text"].string): \(extra.entry.file.name) by \(extra.words)")
            }
            for w in want {
                guard let got = results.first(where: { $0.entry.file.id.uuidString == w["file_id"].string }) else { continue }
                let ext = SearchText.fileExtension(got.entry.file.name)
                XCTAssertEqual(Set(got.words.filter { $0 != ext }), Set(w["selectors"].array.map { $0["word"].string }.filter { $0 != ext }),
                               t["term"]["text"].string)
                XCTAssertEqual(got.exactMatch, w["selectors"].array.contains { $0["exact"].bool }, t["term"]["text"].string)
            }
        }
    }

    func testFiltersSortsAndTenThousandFiles() throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data.url) }
        let store = try LocalStore(dataDirectory: data, key: PrivateKey())
        let words = ["Holiday", "Report", "Concert", "Invoice", "Garden"]
        var files: [FileRecord] = []
        for i in 0..<10_000 {
            let name = "\(words[i % 5])Photo\(i).jpg"
            let h = Hash256.blake3(Array(name.utf8))
            files.append(FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: i % 2 == 0 ? 2 : 1,
                                    format: 5, size: UInt64(i), tags: [FileTag(type: FileTag.name, text: name),
                                                                       FileTag(type: FileTag.folder, text: "set\(i % 10)")]))
        }
        let start = Date()
        try store.chain.addFiles(files, date: 1_700_000_000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 120)
        XCTAssertLessThanOrEqual(store.chain.height, 40, "packed into full blocks (435 of 4 KiB before)")
        for n in 0..<store.chain.height {
            XCTAssertLessThanOrEqual(try XCTUnwrap(store.chain.block(n)).count, 50_096, "every block within what readers fetch")
        }
        XCTAssertEqual(try store.chain.files().count, 10_000)
        XCTAssertEqual(try store.chain.files(folder: "set3").count, 1000)
        let holiday = try store.catalog.search(SearchText.parseTerm("holiday"), limit: 100_000)
        XCTAssertEqual(holiday.count, 2000)
        XCTAssertEqual(try store.catalog.search(SearchText.parseTerm("\"HolidayPhoto10.jpg\"")).map(\.entry.file.name), ["HolidayPhoto10.jpg"])
        var filter = SearchFilter()
        filter.type = 2
        filter.sizeMin = 100
        filter.sizeMax = 199
        let filtered = try store.catalog.search(SearchText.parseTerm("holiday"), filter: filter, sort: .sizeDescending)
        XCTAssertEqual(filtered.map(\.entry.file.size), [190, 180, 170, 160, 150, 140, 130, 120, 110, 100])
        let byName = try store.catalog.search(SearchText.parseTerm("concert"), sort: .nameAscending, limit: 3)
        XCTAssertEqual(byName.map(\.entry.file.name), ["ConcertPhoto1002.jpg", "ConcertPhoto1007.jpg", "ConcertPhoto1012.jpg"])
        // Deleting a file removes it from the index (chain rewrite).
        let target = holiday[0].entry.file
        XCTAssertEqual(try store.chain.deleteFiles(ids: [target.id]), 1)
        XCTAssertEqual(try store.catalog.search(SearchText.parseTerm("holiday"), limit: 100_000).count, 1999)
        XCTAssertEqual(try store.chain.files().count, 9_999)
    }
}

final class RemoteCatalogTests: XCTestCase {
    /// Files of cached remote chains are indexed under their owner, filterable by owner node
    /// ID, and dropped as a whole when that chain is rewritten.
    func testRemoteChainsAreSearchableAndRemovable() throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data.url) }
        let store = try LocalStore(dataDirectory: data, key: PrivateKey())
        let remote = PrivateKey().publicKey
        let h = Hash256.blake3([1])
        let shared = FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: 3, format: 7, size: 1,
                                tags: [FileTag(type: FileTag.name, text: "RemoteHoliday.mkv"), FileTag(type: FileTag.dateShared, date: 1_700_000_000)])
        try store.catalog.add([shared], owner: remote, version: 2, block: 0)
        var own = shared
        own.id = .random()
        try store.chain.addFiles([own])
        let both = try store.catalog.search(SearchText.parseTerm("holiday"))
        XCTAssertEqual(both.count, 2)
        XCTAssertEqual(both.map(\.sharedBy), [2, 2], "two owners share the same content")
        var filter = SearchFilter()
        filter.owner = Hash256.nodeID(of: remote)
        let onlyRemote = try store.catalog.search(SearchText.parseTerm("holiday"), filter: filter)
        XCTAssertEqual(onlyRemote.map(\.entry.owner), [remote])
        XCTAssertEqual(onlyRemote.first?.entry.version, 2)
        filter = SearchFilter()
        filter.dateFrom = 1_600_000_000
        filter.dateTo = 1_700_000_000
        XCTAssertEqual(try store.catalog.search(SearchText.parseTerm("holiday"), filter: filter).map(\.entry.owner), [remote])
        // Ordered by how many owners share the content, counted before the limit (the file
        // shared by one owner sorts last by name, so a count made after the limit misses it).
        let alone = FileRecord(hash: .blake3([2]), id: .random(), merkleRoot: .blake3([2]), fragmentSize: 262_144, type: 3, format: 7,
                               size: 1, tags: [FileTag(type: FileTag.name, text: "ZHolidayAlone.mkv")])
        try store.catalog.add([alone], owner: remote, version: 2, block: 0)
        let fewest = try store.catalog.search(SearchText.parseTerm("holiday"), sort: .sharedByAscending, limit: 1)
        XCTAssertEqual(fewest.map(\.entry.file.name), ["ZHolidayAlone.mkv"])
        XCTAssertEqual(fewest.map(\.sharedBy), [1])
        let most = try store.catalog.search(SearchText.parseTerm("holiday"), sort: .sharedByDescending)
        XCTAssertEqual(most.map(\.sharedBy), [2, 2, 1])
        XCTAssertEqual(try store.catalog.search(SearchText.parseTerm("holiday"), sort: .nameDescending).map(\.sharedBy), [1, 2, 2],
                       "ZHolidayAlone, RemoteHoliday, RemoteHoliday; each counted after the limit")
        try store.catalog.removeAll(owner: remote)
        XCTAssertEqual(try store.catalog.search(SearchText.parseTerm("holiday")).count, 1)
        // Own content stays in the warehouse only while a record refers to it.
        XCTAssertEqual(try store.catalog.count(), 1)
    }

    /// A catalog of the layout before file numbers (word rows keyed by owner key and file ID)
    /// is converted at open: its files stay, and its words are rebuilt for the new layout.
    func testCatalogOfTheOlderLayoutIsConverted() throws {
        let dir = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: dir.url) }
        try FileManager.default.createDirectory(at: dir.url, withIntermediateDirectories: true)
        let remote = PrivateKey().publicKey
        let file = FileRecord(hash: .blake3([7]), id: .random(), merkleRoot: .blake3([7]), fragmentSize: 262_144, type: 3, format: 7, size: 9,
                              tags: [FileTag(type: FileTag.name, text: "Old Holiday.mkv"), FileTag(type: FileTag.folder, text: "Trips")])
        do {
            let db = try SQLiteDatabase(path: dir.file("peernet.sqlite").path)
            try db.execute("""
            CREATE TABLE files (owner BLOB NOT NULL, id BLOB NOT NULL, version INTEGER NOT NULL, block INTEGER NOT NULL,
                hash BLOB NOT NULL, name TEXT NOT NULL, folder TEXT NOT NULL, size INTEGER NOT NULL, type INTEGER NOT NULL,
                format INTEGER NOT NULL, date_shared INTEGER NOT NULL, record BLOB NOT NULL, node_id BLOB NOT NULL,
                PRIMARY KEY (owner, id)) WITHOUT ROWID;
            CREATE INDEX files_hash ON files(hash);
            CREATE TABLE words (word BLOB NOT NULL, owner BLOB NOT NULL, id BLOB NOT NULL, text TEXT NOT NULL,
                PRIMARY KEY (word, owner, id)) WITHOUT ROWID;
            CREATE INDEX words_owner ON words(owner, id);
            CREATE INDEX words_text ON words(text);
            CREATE TABLE catalog_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            INSERT INTO catalog_meta VALUES ('words', 2);
            """)
            try db.run("INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", [
                .blob(remote.compressed), .blob(file.id.bytes), .integer(4), .integer(0), .blob(file.hash.bytes), .text(file.name),
                .text(file.folder), .integer(9), .integer(3), .integer(7), .integer(0), .blob(FileRecordCodec.encodeStandalone(file)),
                .blob(Hash256.nodeID(of: remote).bytes)])
            db.close()
        }
        let store = try LocalStore(dataDirectory: dir, key: PrivateKey())
        XCTAssertEqual(try store.catalog.count(owner: remote), 1)
        let found = try store.catalog.search(SearchText.parseTerm("holi"))
        XCTAssertEqual(found.map(\.entry.file.name), ["Old Holiday.mkv"])
        XCTAssertEqual(found.first?.entry.version, 4)
        XCTAssertEqual(try store.catalog.search(SearchText.parseTerm("trips")).count, 1, "folder words rebuilt")
        try store.catalog.removeAll(owner: remote)
        XCTAssertEqual(try store.db.query("SELECT count(*) FROM words").first?.first?.int, 0, "its words go with it")
    }

    /// Extensions are indexed (word index version 2); an older catalog is reindexed once at
    /// open, so "mp4" finds files cached before the upgrade too.
    func testOlderWordIndexIsRebuiltWithExtensions() throws {
        let dir = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: dir.url) }
        let key = PrivateKey()
        do {
            let store = try LocalStore(dataDirectory: dir, key: key)
            let file = FileRecord(hash: .blake3([1]), id: .random(), merkleRoot: .blake3([1]), fragmentSize: 262_144, type: 1, format: 10,
                                  size: 1, tags: [FileTag(type: FileTag.name, text: "Summer Clip.mp4")])
            try store.chain.addFiles([file])
            XCTAssertEqual(try store.catalog.search(SearchText.parseTerm("mp4")).count, 1)
            // As an index of version 1 was: no extension words, no version row.
            try store.db.run("DELETE FROM words WHERE text = 'mp4'")
            try store.db.run("DELETE FROM catalog_meta")
            XCTAssertEqual(try store.catalog.search(SearchText.parseTerm("mp4")).count, 0)
        }
        let reopened = try LocalStore(dataDirectory: dir, key: key)
        XCTAssertEqual(try reopened.catalog.search(SearchText.parseTerm("mp4")).map(\.entry.file.name), ["Summer Clip.mp4"])
        XCTAssertEqual(try reopened.catalog.search(SearchText.parseTerm("sum")).count, 1, "prefix")
    }
}
