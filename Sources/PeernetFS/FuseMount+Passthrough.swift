import CFuse3
import CLinuxCalls
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

private let passthroughLog = Logger.peernet("fs")

/// Backing files of me/ nodes open in passthrough mode.
struct BackingTable {
    /// Per node: the backing ID the kernel knows and how many open files use it. The kernel
    /// wants one backing file per inode for all its passthrough opens (another gets EBUSY).
    var byNode: [UInt64: (id: Int32, opens: Int)] = [:]
    /// Which open descriptors (file handles) use a backing ID, and for which node.
    var handles: [Int32: UInt64] = [:]
    /// Set when registering a backing file failed: from then on, only nodes that already have
    /// one open in passthrough mode (a node's opens must all be one mode or the other).
    var refused = false
}

/// FUSE passthrough for me/: the kernel (6.9+) reads, writes and maps a share-folder file
/// itself, through the backing file the drive registered at open, so data never crosses
/// /dev/fuse and the daemon. Before it, each 128 KiB-1 MiB write and read of a me/ file was a
/// round trip through the node with two more copies than a local disk (the `drive` benchmark).
///
/// libfuse 3.14 (Debian 12) predates passthrough, so the drive installs its own I/O hooks on
/// the session (`fuse_session_custom_io`, in C: fuse_passthrough.c) that ask for it in the INIT
/// reply when the kernel offers it, and mark open replies with the backing ID. Where the
/// kernel lacks it, for an ordinary user, or where the share folder's close can fail (NFS, CIFS: the kernel's own close of
/// the backing file would drop that error), me/ files are served through the daemon as before.
extension FuseMount {
    /// Installs the I/O hooks on a mounted session before its loop reads INIT: they ask for
    /// passthrough, and for FUSE_HANDLE_KILLPRIV_V2.
    ///
    /// Passthrough: registering a backing file needs CAP_SYS_ADMIN (Linux 6.9-6.18), so a
    /// mount run by an ordinary user does not ask.
    ///
    /// KILLPRIV_V2: without it the kernel asks us for `security.capability` before every
    /// write(2) to a me/ file, a round trip each (4 KiB writes through me/ took 9-11x the time
    /// on the folder). With it, the kernel asks once per inode and leaves clearing setuid, setgid
    /// and file capabilities on write, truncate and chown to us. We do each of those on the
    /// share folder's own file system, which clears them by the rules of the process that
    /// does it: the node. In a private mount that is the only user who can reach me/ (the
    /// kernel refuses everyone else), so the result is what that user's own write gives on the
    /// folder. With --allow-other, another user's write would be judged as the node's (as
    /// root's, kept setuid), so such mounts do not ask.
    func installInitHooks(_ session: OpaquePointer) {
        guard device >= 0 else { return }
        let passthrough = passthroughWanted && !closeCanFail && geteuid() == 0
        let killpriv = !allowOther
        guard passthrough || killpriv else { return }
        peernet_fuse_init_want(device, passthrough ? 1 : 0, killpriv ? 1 : 0)
        var io = fuse_custom_io(writev: peernet_fuse_io_writev, read: peernet_fuse_io_read, splice_receive: nil,
                                splice_send: peernet_fuse_io_splice_send)
        if fuse_session_custom_io(session, &io, device) != 0 {
            peernet_fuse_init_want(device, 0, 0)
        }
    }

    /// Whether the kernel took FUSE_HANDLE_KILLPRIV_V2 for this mount (known once INIT was
    /// answered).
    public var killprivActive: Bool { device >= 0 && peernet_fuse_killpriv_active(device) != 0 }

    /// Whether the kernel accepted passthrough for this mount (known once INIT was answered).
    public var passthroughActive: Bool { device >= 0 && peernet_fuse_passthrough_active(device) != 0 }

    /// The backing ID for an open of node `key` through descriptor `fd`, registered on the
    /// node's first open; nil: this open is served through the daemon.
    func acquireBacking(_ key: UInt64, fd: Int32) -> Int32? {
        guard passthroughActive else { return nil }
        return backings.withLock { table -> Int32? in
            if let node = table.byNode[key] {
                table.byNode[key] = (node.id, node.opens + 1)
                table.handles[fd] = key
                return node.id
            }
            guard !table.refused else { return nil }
            let id = peernet_fuse_backing_open(device, fd)
            guard id > 0 else {
                table.refused = true
                passthroughLog.warning("FUSE passthrough refused (\(String(cString: strerror(-id)))); me/ files opened from now on are served through the node")
                return nil
            }
            table.byNode[key] = (id, 1)
            table.handles[fd] = key
            return id
        }
    }

    /// Ends descriptor `fd`'s use of its node's backing ID, if it had one; the last one drops
    /// the ID (the kernel's open files keep their backing file until they close).
    func releaseBacking(fd: Int32) {
        backings.withLock { table in
            guard let key = table.handles.removeValue(forKey: fd), let node = table.byNode[key] else { return }
            if node.opens > 1 {
                table.byNode[key] = (node.id, node.opens - 1)
            } else {
                table.byNode[key] = nil
                _ = peernet_fuse_backing_close(device, node.id)
            }
        }
    }

    /// Sends an OPEN or CREATE reply (`send`), marked for passthrough with `backing` if any.
    /// The mark is read by the writev hook on this thread, inside `send`. (An open interrupted
    /// before its reply arrived is released by libfuse, which ends its use of the ID.)
    func replyOpen(_ fi: UnsafeMutablePointer<fuse_file_info>, backing: Int32?, send: () -> Int32) {
        if let backing {
            fi.pointee.direct_io = 0
            fi.pointee.keep_cache = 0
            peernet_fuse_passthrough_next_reply(backing)
        }
        _ = send()
        peernet_fuse_passthrough_next_reply(0)
    }
}
