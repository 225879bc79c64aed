import Foundation
@testable import PeernetFS
@testable import PeernetStore
import TestSupport
import XCTest

/// The programs of `DriveProgramTests` with me as a symbolic link to the share folder
/// (`--share-view link`): the kernel follows the link, the node sees nothing of what they do in
/// me/, and must publish exactly the intended files from inotify, its scans and /proc alone.
final class LinkedDriveProgramTests: DriveProgramTests {
    override class var shareView: FuseMount.ShareView { .link }

    /// me is a link to the share folder: through it, the folder's own inode, and a `cp -r` of
    /// 300 files makes no request to the node. They are published all the same, each with
    /// `user.peernet.state` on the file; a temp file carries none and stays private.
    func testMeIsALinkToTheShareFolder() throws {
        var link = stat(), meStat = stat(), folderStat = stat()
        XCTAssertEqual(lstat(me, &link), 0)
        XCTAssertEqual(link.st_mode & S_IFMT, S_IFLNK)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: me), a.shareFolder)
        XCTAssertEqual(run("ls -l \(a.mountpoint) | grep ' me -> '").hasSuffix(" me -> \(a.shareFolder)\n"), true)
        XCTAssertEqual(stat(me, &meStat), 0)
        XCTAssertEqual(stat(a.shareFolder, &folderStat), 0)
        XCTAssertEqual([UInt64(meStat.st_dev), UInt64(meStat.st_ino)], [UInt64(folderStat.st_dev), UInt64(folderStat.st_ino)])
        assertCopyPublishedWithoutTheNode {
            XCTAssertLessThanOrEqual(a.mount.shareLinkReads.load(ordering: .relaxed), 2, "the kernel keeps the link's text (one READLINK, not one per path)")
        }
    }

    /// Stopping the mount leaves no mount behind and the folder with every file.
    func testStopLeavesTheFolder() throws {
        try assertStopLeavesTheFolder()
    }

    /// The file manager's Delete through the link: GLib sees the share folder's own file system
    /// and moves the file into the trash there (here the home trash, on the same file system),
    /// which withdraws it; restoring it publishes it again.
    override func testGioTrashUnpublishes() throws {
        run("echo keep > \(me)/keep.txt && echo bin > \(me)/bin.txt")
        XCTAssertEqual(settled(), ["bin.txt", "keep.txt"])
        let home = a.dir.path + "/home"
        run("mkdir -p \(home) && HOME=\(home) gio trash \(me)/bin.txt")
        XCTAssertFalse(FileManager.default.fileExists(atPath: me + "/bin.txt"))
        XCTAssertEqual(settled(), ["keep.txt"])
        XCTAssertEqual(try String(contentsOfFile: home + "/.local/share/Trash/files/bin.txt", encoding: .utf8), "bin\n")
        run("HOME=\(home) gio trash --restore trash:///bin.txt 2>/dev/null || mv \(home)/.local/share/Trash/files/bin.txt \(me)/bin.txt")
        XCTAssertEqual(content("bin.txt"), "bin\n")
        XCTAssertEqual(settled(), ["bin.txt", "keep.txt"])
    }
}
