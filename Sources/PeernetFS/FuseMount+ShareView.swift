import Foundation
import PeernetSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Logging

private let boundLog = Logger.peernet("mount")

/// How me/ reaches the share folder: three views of the same local folder.
///
/// - `fuse`: me/ is a directory of the drive, and every operation in it passes the node,
///   which does it on the folder (FuseMount+ShareFolder). It looks like any folder of the mount
///   from above (`find`, `du`, `tar` of the whole drive see into it), and the node computes
///   `user.peernet.state` for every file. Its cost: three round trips to the node per new file
///   (lookup, create, the first write's `security.capability` question; 13-44 µs each here),
///   so a `cp -r` of small files takes 4-5x as long as into the folder.
/// - `link`: me is a symbolic link to the share folder. The kernel follows it, so programs in
///   me/ work in the local folder itself: its speed, every local behaviour (locks, mmap,
///   O_DIRECT, inotify), no root needed, and the file manager's trash works (GLib sees the
///   folder's own file system and renames into the usual trash). The node learns of changes as
///   the daemon does without a mount (inotify, its scans, `/proc` for files still open for
///   writing), and `user.peernet.state` becomes a real attribute the publisher writes. From
///   above, me is a link: `find ~/Peernet` and `du ~/Peernet` do not follow it (`-L` does), and
///   `cp -r ~/Peernet/me x` copies the link (`me/` with a slash copies the folder).
/// - `bind`: the share folder bound onto me/: local speed and a real directory, but root only,
///   and no trash: GLib takes a mount of a folder that is not the root of its file system for
///   a system mount and refuses to trash there ("Trashing on system internal mounts is not
///   supported"), and a rename to the home trash would cross two mounts (EXDEV) anyway.
extension FuseMount {
    /// How me/ is provided (config `ShareView`, `peernet mount --share-view`).
    public enum ShareView: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Through FUSE: every operation passes the node.
        case fuse
        /// me is a symbolic link to the share folder.
        case link
        /// The share folder bound onto me/, or the mount fails.
        case bind
        public var description: String { rawValue }
    }

    /// Before the mount: with `link`, the kernel must meet me as a link from its first lookup
    /// (and ask to cache links at INIT); the publisher then writes the state attributes.
    func prepareShareView() {
        guard shareView == .link else { return }
        fs.isShareLinked = true
        fs.publisher.writesStateAttributes = true
    }

    /// The path me/ is at.
    var mePath: String { mountpoint + "/me" }

    /// Binds the share folder onto me/ if the view is `bind`. Call once the FUSE loop runs:
    /// the kernel looks up `me` in this very file system to mount over it. Returns whether
    /// me/ is bound; throws if binding was asked for and cannot be had.
    @discardableResult
    public func provideShare() throws -> Bool {
        guard shareView == .bind else { return false }
        let source = fs.publisher.folder.path
        let rc = Glibc.mount(source, mePath, nil, UInt(MS_BIND), nil)
        guard rc == 0 else {
            let why = String(cString: strerror(errno))
            throw MountError.failed("cannot bind the share folder \(source) onto \(mePath): \(why). Binding needs root; --share-view link gives the same speed without root")
        }
        shareBound.store(true, ordering: .relaxed)
        fs.publisher.writesStateAttributes = true
        boundLog.info("me/ is the share folder \(source), bound (no FUSE round trips)")
        return true
    }

    /// Whether me/ is the share folder bound onto the drive.
    public var isShareBound: Bool { shareBound.load(ordering: .relaxed) }

    /// Ends the view: the publisher stops writing attributes, and a bound me/ is detached
    /// (before the drive itself is unmounted: a mount with another inside cannot be unmounted
    /// without MNT_DETACH).
    func releaseShare() {
        // The drive computes no state once it is gone: the daemon alone writes none either.
        if shareView != .fuse { fs.publisher.writesStateAttributes = false }
        guard shareBound.exchange(false, ordering: .relaxed) else { return }
        umount2(mePath, Int32(MNT_DETACH))
    }

    /// Detaches a me/ bind left over the drive at `mountpoint` (for `peernet unmount`, and a
    /// mount left by a crashed node). Only a bind mount there is touched.
    public static func releaseBoundShare(at mountpoint: String) {
        let me = mountpoint + "/me"
        if isMountPoint(me) { umount2(me, Int32(MNT_DETACH)) }
    }

    /// Whether something is mounted at `path` (the mount table, not a stat: a stat of a dead
    /// FUSE mount fails, and of a live one may wait on it).
    public static func isMountPoint(_ path: String) -> Bool {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        return mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst().first.map { unescapeMountPath(String($0)) } == path }
    }

    /// /proc/mounts writes space, tab, newline and backslash as octal escapes.
    static func unescapeMountPath(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
