import Foundation
@testable import PeernetFS
import TestSupport
import XCTest

/// The table of me/'s inodes (no mount needed).
final class ShareFolderInodesTests: XCTestCase {
    /// A file is removed and a folder made under the same name before the kernel forgets the
    /// file; ext4 gives the folder the file's inode number, so the folder is found under the
    /// key the table still holds for the file. The entry must become the folder's, with its
    /// descriptor: as a file's it had none, and creating in the folder failed with ENOENT.
    func testAFoldersInodeNumberReusedFromAFileGetsItsDescriptor() throws {
        let dir = URL(fileURLWithPath: "/tmp/pn-inodes-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let inodes = try ShareFolderInodes(path: dir.path)
        XCTAssertEqual(FileManager.default.createFile(atPath: dir.path + "/x", contents: Data("file".utf8)), true)
        let file = try inodes.lookup(parent: inodes.rootKey, name: "x")
        XCTAssertNil(inodes.directoryFD(file.key), "a file holds no descriptor")
        // The file goes and a folder comes, the table still holding the file's entry; the
        // folder's stat is made to carry the file's inode number, as ext4's reuse does.
        try FileManager.default.removeItem(atPath: dir.path + "/x")
        try FileManager.default.createDirectory(atPath: dir.path + "/x", withIntermediateDirectories: false)
        let fd = open(dir.path + "/x", O_PATH | O_DIRECTORY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        st.st_ino = file.stat.st_ino
        let key = inodes.found(parent: inodes.rootKey, name: "x", stat: st, fd: fd)
        XCTAssertEqual(key, file.key)
        XCTAssertEqual(inodes.directoryFD(key), fd, "the entry is the folder's, with its descriptor")
        let made = openat(fd, "inside", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        XCTAssertGreaterThanOrEqual(made, 0, "a file can be made in it")
        close(made)
        // Two lookups (the file's and the folder's) are forgotten together.
        inodes.forget(key, 2)
        XCTAssertEqual(inodes.count, 0)
        XCTAssertNotEqual(fcntl(fd, F_GETFD), 0, "the descriptor is closed with the entry")
    }
}
