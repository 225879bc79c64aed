import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import CLinuxCalls
@testable import PeernetStore
import PeernetSupport
import TestSupport
import XCTest

/// The share folder and its publisher, on a real folder and a real SQLite store (no mount).
final class SharePublisherTests: XCTestCase {
    var data: DataDirectory!
    var store: LocalStore!
    var publisher: SharePublisher!
    var folder: String { data.file("share").path }

    override func setUp() async throws {
        data = try temporaryDataDirectory()
        store = try LocalStore(dataDirectory: data, key: PrivateKey())
        publisher = try makePublisher(settle: 0.3)
    }

    override func tearDown() async throws {
        publisher?.stop()
        publisher = nil
        store = nil
        try? FileManager.default.removeItem(at: data.url)
    }

    func makePublisher(settle: Double) throws -> SharePublisher {
        var options = SharePublisher.Options()
        options.settle = settle
        options.watch = false
        return try SharePublisher(store: store, folder: data.file("share"), options: options)
    }

    /// No pass runs once stop() returned, also when stop came while the publisher waited for
    /// a burst of changes to end (it then went on to a pass).
    func testNoPassAfterStop() throws {
        publisher.start()
        try write("late.txt", "written as the node stops")
        publisher.poke()
        usleep(50_000)  // inside the publisher's wait for the burst to end (0.2 s)
        publisher.stop()
        let starts = publisher.state.withLock { $0.starts }
        usleep(600_000)
        XCTAssertEqual(publisher.state.withLock { $0.starts }, starts, "no pass began after stop()")
        XCTAssertEqual(try published(), [])
    }

    func write(_ relative: String, _ text: String) throws {
        let url = URL(fileURLWithPath: folder + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    func published() throws -> [String] {
        try store.chain.files().map { $0.folder.isEmpty ? $0.name : $0.folder + "/" + $0.name }.sorted()
    }

    /// Passes until nothing is pending (files settle after 0.3 s here), bounded.
    func settle() {
        let deadline = Date().addingTimeInterval(10)
        repeat {
            publisher.pass()
            if publisher.lastSummary.pending == 0 {
                XCTAssertEqual(publisher.backlog().failed.map { "\($0.0): \($0.1)" }, [], "nothing failed")
                return
            }
            usleep(100_000)
        } while Date() < deadline
        XCTFail("files stayed pending")
    }

    /// Files are published once settled, all in one block; temp, swap, journal, lock, hidden
    /// and trashed files never are, nor what .peernetignore names.
    func testSettledFilesArePublishedTogetherAndTempFilesNever() throws {
        let keep = ["a.txt", "Music/song.mp3", "Music/Live/set.flac", "notes.md"]
        let never = [".a.txt.swp", "a.txt~", ".#a.txt", "#a.txt#", "draft.tmp", "movie.mkv.part", "get.crdownload", ".~lock.doc.odt#",
                     "~$report.docx", ".f_0.dat.5qxtc0", "tmpab3k_9zq", "db.sqlite-journal", "db.sqlite-wal", "db.sqlite-shm",
                     ".git/config", ".Trash-1000/files/old.txt", ".DS_Store", "Thumbs.db", ".goutputstream-ABC123", "private/secret.key",
                     "Music/cover.bak"]
        for f in keep + never { try write(f, "content of \(f)") }
        try write(".peernetignore", "private/\n")
        try write("Music/.peernetignore", "*.bak\n")
        let first = publisher.pass()
        XCTAssertEqual(first.added, 0, "nothing is published before it settled")
        XCTAssertEqual(first.pending, keep.count)
        XCTAssertEqual(publisher.state(of: SharePath("a.txt"), isDirectory: false, signature: nil), .pending)
        XCTAssertEqual(store.chain.height, 0)
        usleep(400_000)
        let second = publisher.pass()
        XCTAssertEqual(second.added, keep.count)
        XCTAssertEqual(try published(), keep.sorted())
        XCTAssertEqual(store.chain.height, 1, "one block for one settle window")
        XCTAssertEqual(publisher.state(of: SharePath("a.txt"), isDirectory: false, signature: nil), .published)
        XCTAssertEqual(publisher.state(of: SharePath("draft.tmp"), isDirectory: false, signature: nil), .ignored)
        XCTAssertEqual(publisher.state(of: SharePath("Music/cover.bak"), isDirectory: false, signature: nil), .ignored)
        XCTAssertEqual(publisher.state(of: SharePath("private/secret.key"), isDirectory: false, signature: nil), .ignored)
        // The content is what the file holds.
        let record = try XCTUnwrap(store.chain.files().first { $0.name == "set.flac" })
        XCTAssertEqual(record.folder, "Music/Live")
        XCTAssertEqual(try store.warehouse.read(record.hash, offset: 0, length: 100), Array("content of Music/Live/set.flac".utf8))
    }

    /// touch, chmod and writing the same bytes again change nothing on the chain.
    func testUnchangedContentChangesNothing() throws {
        try write("same.txt", "same")
        settle()
        let (height, version) = (store.chain.height, store.chain.version)
        let id = try XCTUnwrap(store.chain.files().first?.id)
        XCTAssertEqual(chmod(folder + "/same.txt", 0o600), 0)
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, folder + "/same.txt", &times, 0), 0)
        settle()
        try write("same.txt", "same")
        settle()
        XCTAssertEqual(store.chain.height, height)
        XCTAssertEqual(store.chain.version, version)
        XCTAssertEqual(try store.chain.files().map(\.id), [id])
    }

    /// A rename of a file or a whole folder updates the records without reading the content;
    /// IDs and hashes stay.
    func testRenamesUpdateRecordsWithoutRehashing() throws {
        for i in 0..<1_000 { try write("Photos/\(i).jpg", "photo \(i)") }
        try write("one.txt", "one")
        settle()
        let before = Dictionary(uniqueKeysWithValues: try store.chain.files().map { ($0.id, $0.hash) })
        XCTAssertEqual(before.count, 1_001)
        XCTAssertEqual(rename(folder + "/Photos", folder + "/Holiday 2026"), 0)
        XCTAssertEqual(rename(folder + "/one.txt", folder + "/Holiday 2026/uno.txt"), 0)
        let summary = publisher.pass()
        XCTAssertEqual(summary.renamed, 1_001)
        XCTAssertEqual(summary.added + summary.replaced + summary.removed, 0)
        let after = try store.chain.files()
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: after.map { ($0.id, $0.hash) }), before)
        XCTAssertTrue(after.allSatisfy { $0.folder == "Holiday 2026" })
        XCTAssertTrue(after.contains { $0.name == "uno.txt" })
        XCTAssertLessThanOrEqual(store.chain.height, 8, "1,001 records in full blocks, not one block each")
    }

    /// A renamed file is still served (the content link named the old path, and a rename
    /// changes the change time: the file was never offered again), and so is the copy left
    /// when one of two files with the same bytes goes (the link named the one deleted).
    func testRenamedAndDuplicateFilesStayServed() throws {
        try write("a.txt", "the same bytes")
        settle()
        let hash = try XCTUnwrap(store.chain.files().first?.hash)
        XCTAssertTrue(store.warehouse.contains(hash))
        XCTAssertEqual(rename(folder + "/a.txt", folder + "/b.txt"), 0)
        XCTAssertEqual(publisher.pass().renamed, 1)
        XCTAssertTrue(store.warehouse.contains(hash), "served after a rename")
        XCTAssertEqual(try store.warehouse.read(hash, offset: 0, length: 4), Array("the ".utf8))
        publisher.pass()
        XCTAssertTrue(store.warehouse.contains(hash), "and after the next pass")

        try write("copy.txt", "the same bytes")
        usleep(400_000)
        settle()
        XCTAssertEqual(try published(), ["b.txt", "copy.txt"])
        // Whichever file the link names now, deleting it leaves the other served.
        let linked = try XCTUnwrap(store.warehouse.contentPath(hash))
        XCTAssertEqual(unlink(linked), 0)
        settle()
        XCTAssertEqual(try published().count, 1)
        XCTAssertTrue(store.warehouse.contains(hash), "the remaining copy is served")
        XCTAssertEqual(try store.warehouse.read(hash, offset: 9, length: 5), Array("bytes".utf8))
    }

    /// Safe save (temp file, fsync, rename over the target): the target's record gets the new
    /// content (same ID), the old content leaves the warehouse, the temp name is never published.
    func testSafeSaveReplacesTheRecord() throws {
        try write("doc.txt", "version 1")
        settle()
        let old = try XCTUnwrap(store.chain.files().first)
        try write("tmpk2j4_x9q", "version 2")
        XCTAssertEqual(rename(folder + "/tmpk2j4_x9q", folder + "/doc.txt"), 0)
        settle()
        let files = try store.chain.files()
        XCTAssertEqual(files.map(\.name), ["doc.txt"])
        XCTAssertEqual(files[0].id, old.id)
        XCTAssertEqual(files[0].hash, Hash256.blake3(Array("version 2".utf8)))
        XCTAssertFalse(store.warehouse.contains(old.hash))
    }

    /// Deleting unpublishes, and so does moving into the trash (an ignored folder).
    func testDeleteAndTrashUnpublish() throws {
        try write("a.txt", "a")
        try write("b.txt", "b")
        settle()
        XCTAssertEqual(try published(), ["a.txt", "b.txt"])
        XCTAssertEqual(unlink(folder + "/a.txt"), 0)
        try FileManager.default.createDirectory(atPath: folder + "/.Trash-0/files", withIntermediateDirectories: true)
        XCTAssertEqual(rename(folder + "/b.txt", folder + "/.Trash-0/files/b.txt"), 0)
        publisher.pass()
        XCTAssertEqual(try published(), [])
        XCTAssertTrue(store.warehouse.allHashes().isEmpty)
    }

    /// A file with an open writer is not published, however quiet it is.
    func testOpenWritersHoldPublishing() throws {
        try write("slow.bin", "part one")
        var st = stat()
        XCTAssertEqual(stat(folder + "/slow.bin", &st), 0)
        publisher.writing(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), 1)
        usleep(400_000)
        XCTAssertEqual(publisher.pass().pending, 1)
        XCTAssertEqual(try published(), [])
        publisher.writing(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), -1)
        settle()
        XCTAssertEqual(try published(), ["slow.bin"])
    }

    /// A program writing in the folder directly (no drive handle tells) that pauses longer than
    /// the settle time: its file is held while the program has it open for writing, and is
    /// published once it closed it. A reader that keeps a file open does not hold it.
    func testProgramsHoldingAFileOpenForWritingHoldPublishing() throws {
        try write("reader.txt", "read by a program")
        // Another process: opens for appending, writes, pauses, writes again, closes on a signal.
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/bin/sh")
        writer.arguments = ["-c", "exec 3>>'\(folder)/download.bin' 4<'\(folder)/reader.txt'; printf 'first half ' >&3; "
                            + "trap 'printf \"second half\" >&3; exec 3>&-; exit 0' TERM; while :; do sleep 0.05; done"]
        try writer.run()
        defer { if writer.isRunning { writer.terminate(); writer.waitUntilExit() } }
        // Wait (bounded) until the writer has written, then past the settle time.
        let deadline = Date().addingTimeInterval(10)
        while (try? Data(contentsOf: URL(fileURLWithPath: folder + "/download.bin")))?.count != 11 && Date() < deadline { usleep(20_000) }
        usleep(500_000)
        publisher.writesStateAttributes = true
        let held = publisher.pass()
        XCTAssertEqual(held.heldOpen, 1, "the file open for writing is held")
        XCTAssertEqual(try published(), ["reader.txt"], "a file open only for reading is published")
        // Not marked at once (the files of a copy settle before long and get one write, not
        // two), but once pending for twice the settle time (with me as a link or bound, the
        // attribute is the only way to see it on the file).
        XCTAssertNil(attribute("download.bin"))
        usleep(1_100_000)
        XCTAssertEqual(publisher.pass().heldOpen, 1)
        XCTAssertEqual(attribute("download.bin"), "pending")
        XCTAssertEqual(attribute("reader.txt"), "published")
        writer.terminate()
        writer.waitUntilExit()
        XCTAssertEqual(try String(contentsOfFile: folder + "/download.bin", encoding: .utf8), "first half second half")
        settle()
        XCTAssertEqual(try published(), ["download.bin", "reader.txt"])
        let record = try XCTUnwrap(store.chain.files().first { $0.name == "download.bin" })
        XCTAssertEqual(record.size, 22, "published as closed, not half-written")
        XCTAssertEqual(attribute("download.bin"), "published")
    }

    /// With me/ bound straight onto the folder, the publisher writes `user.peernet.state` onto
    /// the files: published, and pending when edited after; nothing on new or ignored files;
    /// a pass with nothing new writes nothing (the change time stays), and the recorded change
    /// time is the file's, so the next pass does not look at the content again.
    func testStateAttributesFollowTheFiles() throws {
        // A settle time the first pass surely comes within, also on a loaded machine (0.3 s
        // passed while 300 files were written under two CPU hogs).
        publisher.stop()
        publisher = try makePublisher(settle: 2)
        publisher.writesStateAttributes = true
        // Imported before photo.jpg (sorted): its import comes well after the scan read its
        // change time (timestamps move in clock ticks of a few ms).
        for i in 0..<300 { try write("album/\(i).txt", "picture \(i)") }
        try write("photo.jpg", "pixels")
        try write("draft.tmp", "temp")
        publisher.pass()
        XCTAssertNil(attribute("photo.jpg"), "a new file carries none until it is published")
        XCTAssertNil(attribute("draft.tmp"), "ignored files are not touched")
        settle()
        XCTAssertEqual(attribute("photo.jpg"), "published")
        XCTAssertEqual(try published().count, 301)
        var before = stat(), after = stat()
        XCTAssertEqual(stat(folder + "/photo.jpg", &before), 0)
        XCTAssertEqual(publisher.state.withLock { $0.rows[SharePath("photo.jpg")]?.ctimeNs },
                       Int64(before.st_ctim.tv_sec) * 1_000_000_000 + Int64(before.st_ctim.tv_nsec), "recorded as published, attribute included")
        let quiet = publisher.pass()
        XCTAssertEqual(quiet.unchanged, 301)
        XCTAssertFalse(quiet.chainChanged)
        XCTAssertEqual(stat(folder + "/photo.jpg", &after), 0)
        XCTAssertEqual(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec, "nothing written when nothing changed")
        XCTAssertEqual(publisher.state.withLock { $0.rows[SharePath("photo.jpg")]?.ctimeNs },
                       Int64(after.st_ctim.tv_sec) * 1_000_000_000 + Int64(after.st_ctim.tv_nsec), "the recorded change time is the file's")
        try write("photo.jpg", "new pixels")
        publisher.pass()
        XCTAssertEqual(attribute("photo.jpg"), "pending")
        settle()
        XCTAssertEqual(attribute("photo.jpg"), "published")
        XCTAssertEqual(try store.chain.files().first { $0.name == "photo.jpg" }?.size, 10)
    }

    func attribute(_ relative: String) -> String? {
        let path = folder + "/" + relative
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { getxattr(path, "user.peernet.state", $0.baseAddress, $0.count) }
        return n >= 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : nil
    }

    /// A node from before the share folder: its shares are written into the folder once, with
    /// the same records, and nothing is hashed or republished.
    func testExistingSharesMoveIntoTheFolder() throws {
        publisher = nil
        let source = data.file("old.txt").path
        try Data("old content".utf8).write(to: URL(fileURLWithPath: source))
        let shared = try store.share([LocalStore.ShareRequest(path: source, folder: "Docs")])
        try FileManager.default.removeItem(atPath: data.file("share").path)
        try store.db.run("DELETE FROM share_meta")
        let version = store.chain.version
        publisher = try makePublisher(settle: 0.3)
        XCTAssertEqual(try String(contentsOfFile: folder + "/Docs/old.txt", encoding: .utf8), "old content")
        settle()
        XCTAssertEqual(try store.chain.files().map(\.id), shared.map(\.id))
        XCTAssertEqual(store.chain.version, version)
    }

    /// Names are kept byte for byte: NFC/NFD twins and invalid UTF-8 are separate files.
    func testNamesAreKeptByteForByte() throws {
        let nfc = "caf\u{e9}.txt", nfd = "cafe\u{301}.txt"
        try Data("nfc".utf8).write(to: URL(fileURLWithPath: folder + "/" + nfc))
        try Data("nfd".utf8).write(to: URL(fileURLWithPath: folder + "/" + nfd))
        let invalid: [UInt8] = Array(folder.utf8) + [UInt8(ascii: "/"), 0x66, 0xff, 0x2e, 0x74]
        let fd = (invalid + [0]).withUnsafeBufferPointer { $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: invalid.count + 1) { open($0, O_WRONLY | O_CREAT, 0o644) } }
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = Glibc.write(fd, "x", 1)
        close(fd)
        usleep(400_000)
        settle()
        XCTAssertEqual(try store.chain.files().count, 3)
        XCTAssertEqual(Set(try store.chain.files().map(\.hash)).count, 3)
    }

    /// Compaction: a chain grown one block per publish is packed when it passes the threshold.
    func testLongChainsAreCompacted() throws {
        for i in 0..<40 {
            try write("f\(i).txt", "file \(i)")
            publisher.pass(settled: [SharePath("f\(i).txt")])
        }
        XCTAssertLessThanOrEqual(store.chain.height, 33)
        XCTAssertEqual(try store.chain.files().count, 40)
        try store.chain.compactIfNeeded(threshold: 4)
        XCTAssertEqual(store.chain.height, 1)
        XCTAssertEqual(try store.chain.files().count, 40)
    }

    /// Content is stored once: the warehouse links to the share-folder file (a few hundred
    /// bytes of link and Merkle companion, no copy), and stops serving it the moment it changes,
    /// even when the change keeps size and mtime (rsync --inplace -t); the next pass re-hashes it.
    func testContentIsStoredOnceAndNeverServedStale() throws {
        let size = 8 << 20
        var bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/big.bin"))
        settle()
        let record = try XCTUnwrap(store.chain.files().first)
        let warehouseBytes = Int(sh("du -sk --apparent-size \(data.file("warehouse").path)").out.split(separator: "\t").first ?? "") ?? -1
        XCTAssertGreaterThanOrEqual(warehouseBytes, 0)
        XCTAssertLessThan(warehouseBytes * 1024, size / 20, "the warehouse holds no copy (\(warehouseBytes) KiB)")
        XCTAssertEqual(try store.warehouse.read(record.hash, offset: 1_000_000, length: 1000), Array(bytes[1_000_000..<1_001_000]))
        // Rewritten in place with the old mtime put back.
        var st = stat()
        XCTAssertEqual(stat(folder + "/big.bin", &st), 0)
        bytes[5] ^= 0xff
        let fd = open(folder + "/big.bin", O_WRONLY)
        XCTAssertEqual(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + 5, 1, 5) }, 1)
        var times = [st.st_atim, st.st_mtim]
        XCTAssertEqual(futimens(fd, &times), 0)
        close(fd)
        XCTAssertFalse(store.warehouse.contains(record.hash), "changed content is not offered")
        XCTAssertThrowsError(try store.warehouse.read(record.hash, offset: 0, length: 10))
        usleep(400_000)
        settle()
        let updated = try XCTUnwrap(store.chain.files().first)
        XCTAssertEqual(updated.id, record.id)
        XCTAssertEqual(updated.hash, Hash256.blake3(bytes))
        XCTAssertEqual(try store.warehouse.read(updated.hash, offset: 0, length: 10), Array(bytes[0..<10]))
    }

    /// `peernet share` of a sparse file keeps its holes (a byte at 256 MiB was copied densely
    /// until the disk filled), and content larger than the free space is refused before
    /// anything is written.
    func testSparseFilesStaySparseAndNoSpaceIsSaidUpFront() throws {
        let source = data.file("sparse.bin").path
        XCTAssertEqual(sh("truncate -s 256M \(source) && printf end >> \(source)").status, 0)
        let records = try publisher.share(paths: [source], folder: "", name: nil, description: "")
        XCTAssertEqual(records.first?.size, (256 << 20) + 3)
        let used = Int(sh("du -k \(folder)/sparse.bin").out.split(separator: "\t").first ?? "") ?? -1
        XCTAssertGreaterThanOrEqual(used, 0)
        XCTAssertLessThan(used, 1024, "the copy kept the holes (\(used) KiB allocated)")
        XCTAssertEqual(sh("cmp \(source) \(folder)/sparse.bin").status, 0)
        // Devices and fifos are refused, not read forever.
        XCTAssertThrowsError(try publisher.share(paths: ["/dev/zero"], folder: "", name: nil, description: "")) { error in
            XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
        }

        // A small file system for the share folder: a 16 MiB file does not fit in 8 MiB.
        let small = data.file("small").path
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        guard getuid() == 0, sh("mount -t tmpfs -o size=8m tmpfs \(small)").status == 0 else {
            FileHandle.standardError.write(Data("notice: ENOSPC part skipped (needs root to mount a tmpfs)\n".utf8))
            return
        }
        defer { _ = sh("umount \(small)") }
        var options = SharePublisher.Options()
        options.watch = false
        let tight = try SharePublisher(store: store, folder: URL(fileURLWithPath: small + "/share"), options: options)
        let big = data.file("big.bin").path
        XCTAssertEqual(sh("head -c 16777216 /dev/urandom > \(big)").status, 0)
        XCTAssertThrowsError(try tight.share(paths: [big], folder: "", name: nil, description: "")) { error in
            XCTAssertTrue("\(error)".contains("free"), "\(error)")
        }
        XCTAssertEqual(sh("ls -A \(small)/share").out, "", "nothing was written")
    }

    /// mkdir publishes an empty folder (a virtual folder record, as the reference's clients
    /// make); once it holds a file the file's folder tag stands for it.
    func testEmptyFoldersArePublishedAsFolders() throws {
        func folders() throws -> [String] {
            try store.chain.files().filter(\.isVirtualFolder).map { $0.folder.isEmpty ? $0.name : $0.folder + "/" + $0.name }.sorted()
        }
        try FileManager.default.createDirectory(atPath: folder + "/Empty", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder + "/Nested/Inner", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder + "/.hidden", withIntermediateDirectories: true)
        publisher.pass()
        XCTAssertEqual(try folders(), ["Empty", "Nested/Inner"])
        try write("Empty/now.txt", "x")
        XCTAssertEqual(rmdir(folder + "/Nested/Inner"), 0)
        settle()
        XCTAssertEqual(try folders(), ["Nested"])
        XCTAssertEqual(try published(), ["Empty/now.txt", "Nested"])
    }
}
