import Foundation
import PeernetSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Logging

private let boundLog = Logger.peernet("mount")

/// me/ as the share folder itself: a bind mount of the folder onto `<mount>/me`, so programs
/// in me/ talk to the local file system with no FUSE round trip at all.
///
/// Why: FUSE costs a round trip to the node for each name looked up, file created and first
/// write (13-44 µs each here), three per new file, so `cp -r` of small files through FUSE
/// took 4.7x as long as into the folder, and `rm -r` 3x. Bound, me/ *is* the local folder:
/// its speed, every POSIX behaviour (locks, mmap, O_DIRECT, inotify), and it stays usable
/// while the node is busy.
///
/// What changes: the node no longer sees operations in me/. It learns of them as it does for
/// the daemon without a mount (inotify, the periodic scan, `/proc` for files still open for
/// writing), and `user.peernet.state` becomes a real attribute the publisher writes.
///
/// What is lost, and why it is not the default: the trash. GLib (file managers, `gio trash`)
/// takes a mount of a folder that is not the root of its file system for a system mount and
/// refuses to trash there ("Trashing on system internal mounts is not supported"; file
/// managers then offer to delete for good), and a rename to the home trash would cross two
/// mounts (EXDEV) anyway. Also, files that are never published carry no `user.peernet.state`.
///
/// Needs root (CAP_SYS_ADMIN), as does passthrough.
extension FuseMount {
    /// How me/ is provided (config `ShareView`, `peernet mount --share-view`).
    public enum ShareView: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Through FUSE: every operation passes the node (the default).
        case fuse
        /// The share folder bound onto me/, or the mount fails.
        case bind
        public var description: String { rawValue }
    }

    /// The path me/ is at.
    var mePath: String { mountpoint + "/me" }

    /// Binds the share folder onto me/ if `view` asks for it. Call once the FUSE loop runs:
    /// the kernel looks up `me` in this very file system to mount over it. Returns whether
    /// me/ is bound; throws if binding was asked for and cannot be had.
    @discardableResult
    public func provideShare(_ view: ShareView) throws -> Bool {
        guard view != .fuse else { return false }
        let source = fs.publisher.folder.path
        let rc = Glibc.mount(source, mePath, nil, UInt(MS_BIND), nil)
        guard rc == 0 else {
            let why = String(cString: strerror(errno))
            throw MountError.failed("cannot bind the share folder \(source) onto \(mePath): \(why). Binding needs root; without --share-view bind, me/ is served through FUSE")
        }
        shareBound.store(true, ordering: .relaxed)
        fs.publisher.writesStateAttributes = true
        boundLog.info("me/ is the share folder \(source), bound (no FUSE round trips)")
        return true
    }

    /// Whether me/ is the share folder bound onto the drive.
    public var isShareBound: Bool { shareBound.load(ordering: .relaxed) }

    /// Detaches a bound me/ (before the drive itself is unmounted: a mount with another inside
    /// cannot be unmounted without MNT_DETACH).
    func releaseShare() {
        guard shareBound.exchange(false, ordering: .relaxed) else { return }
        fs.publisher.writesStateAttributes = false
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
