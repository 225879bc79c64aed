import Foundation
import Glibc
import PeernetSupport
import XCTest

final class DirectoryEntryTests: XCTestCase {
    /// A short entry that ends right before an unmapped page, as the last entry of readdir's
    /// buffer can end at its allocation: reading `d_name` as the 256-byte array it is declared
    /// as crosses into that page (SIGSEGV); reading the name in place does not.
    func testANameIsReadInPlaceUpToItsEnd() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let memory = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        XCTAssertNotEqual(memory, MAP_FAILED)
        guard let memory, memory != MAP_FAILED else { return }
        defer { munmap(memory, 2 * page) }
        XCTAssertEqual(mprotect(memory + page, page, PROT_NONE), 0)

        let name = Array("f7449.txt".utf8)
        let offset = MemoryLayout<dirent>.offset(of: \.d_name)!
        let length = (offset + name.count + 1 + 7) & ~7  // d_reclen: the name's length, 8-aligned
        XCTAssertGreaterThan(offset + 256, length, "the declared array reaches past the entry")
        let entry = memory + page - length
        memset(entry, 0, length)
        (entry + offset).copyMemory(from: name, byteCount: name.count)
        XCTAssertEqual(directoryEntryName(entry.assumingMemoryBound(to: dirent.self)), name)

        // And from a real directory listing: every name comes back whole.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dirent-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = (0..<300).map { "entry-\($0)-" + String(repeating: "x", count: $0 % 200) }
        for n in names { XCTAssertTrue(FileManager.default.createFile(atPath: dir.appendingPathComponent(n).path, contents: nil)) }
        guard let handle = opendir(dir.path) else { return XCTFail("opendir") }
        defer { closedir(handle) }
        var listed: Set<String> = []
        while let e = readdir(handle) { listed.insert(String(decoding: directoryEntryName(e), as: UTF8.self)) }
        XCTAssertEqual(listed, Set(names + [".", ".."]))
    }
}
