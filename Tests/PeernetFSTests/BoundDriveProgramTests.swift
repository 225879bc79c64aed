import Foundation
@testable import PeernetFS
@testable import PeernetStore
import TestSupport
import XCTest

/// The programs of `DriveProgramTests` with me/ bound straight onto the share folder
/// (`--share-view bind`): the node sees nothing of what they do in me/ and must
/// publish exactly the intended files from inotify, its scans and /proc alone.
final class BoundDriveProgramTests: DriveProgramTests {
    override class var shareView: FuseMount.ShareView { .bind }

    /// me/ is the share folder itself: the same inode, a bind mount in the mount table, and a
    /// `cp -r` of 300 files makes no request to the node. They are published all the same,
    /// each with `user.peernet.state` on the file; a temp file carries none and stays private.
    func testMeIsTheShareFolderBound() throws {
        XCTAssertTrue(a.mount.isShareBound)
        var meStat = stat(), folderStat = stat()
        XCTAssertEqual(stat(me, &meStat), 0)
        XCTAssertEqual(stat(a.shareFolder, &folderStat), 0)
        XCTAssertEqual([UInt64(meStat.st_dev), UInt64(meStat.st_ino)], [UInt64(folderStat.st_dev), UInt64(folderStat.st_ino)])
        XCTAssertTrue(run("cat /proc/self/mounts").contains(" \(me) "), "a mount at me/")
        assertCopyPublishedWithoutTheNode()
    }

    /// Stopping the mount releases the bind and then the drive; the folder keeps every file.
    func testStopReleasesTheBindAndTheDrive() throws {
        try assertStopLeavesTheFolder()
    }

    /// The file manager's Delete on a bound me/: GLib refuses to trash on a bind mount of a
    /// folder ("system internal"), so nothing moves and nothing is lost; Delete for good
    /// (`gio remove`, what file managers then offer) unpublishes. This is why binding is not
    /// the default.
    override func testGioTrashUnpublishes() throws {
        run("echo keep > \(me)/keep.txt && echo bin > \(me)/bin.txt")
        XCTAssertEqual(settled(), ["bin.txt", "keep.txt"])
        let trash = sh("gio trash \(me)/bin.txt")
        XCTAssertNotEqual(trash.status, 0)
        XCTAssertTrue(trash.err.contains("system internal mounts") || trash.err.contains("across filesystem boundaries"), trash.err)
        XCTAssertEqual(content("bin.txt"), "bin\n", "left where it was")
        run("gio remove \(me)/bin.txt")
        XCTAssertEqual(settled(), ["keep.txt"])
    }
}
