import CFuse3
import CLinuxCalls
import Foundation
import PeernetSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Logging

private let fsLog = Logger.peernet("fs")

/// A fuse_req_t that may cross threads: replies are sent from Swift tasks (low-level API).
struct Request: @unchecked Sendable {
    let raw: fuse_req_t
}

/// The low-level FUSE front end over `PeernetFileSystem`. Callbacks run on libfuse's worker
/// threads; anything that may wait on the network (reads, search listings) is answered from a
/// Swift task, so a slow peer never blocks other operations.
///
/// Kernel caching: remote files are immutable (content-addressed), so their attributes and
/// entries are cached for a minute and their pages kept (`keep_cache`); me/ and listings change,
/// so they are cached for one second. When a peer's chain changes, the entries cached under
/// its directory are dropped at once (`fuse_lowlevel_notify_inval_entry`).
public final class FuseMount: @unchecked Sendable {
    public let fs: PeernetFileSystem
    public let mountpoint: String
    let allowOther: Bool
    private var session: OpaquePointer?
    private var context: Unmanaged<FuseMount>?
    private let stopped = Mutex(false)
    /// Listings of open directories (by file handle), so chunked readdir calls are consistent.
    let directoryHandles = Mutex<(next: UInt64, listings: [UInt64: [(String, FSNode)]])>((1, [:]))

    /// Whether close(2) of a file in the share folder can fail. On the local file systems
    /// listed here it cannot (they have no flush operation: errors surface at write or fsync),
    /// so FLUSH is declined once and the kernel stops sending it: one round trip fewer for
    /// every file a program closes in me/ (cp -r of small files makes ~5 per file). On any
    /// other (NFS, CIFS, another FUSE) FLUSH passes the backing close's error to the caller.
    let closeCanFail: Bool
    static let filesystemsWithoutFlush: Set<Int> = [0xEF53 /* ext2/3/4 */, 0x5846_5342 /* xfs */, 0x9123_683E /* btrfs */,
                                                   0x0102_1994 /* tmpfs */, 0xF2F5_2010 /* f2fs */]

    /// Whether me/ files are opened in passthrough mode when the kernel has it (see
    /// FuseMount+Passthrough); `PEERNET_FUSE_PASSTHROUGH=0` turns it off.
    let passthroughWanted: Bool
    /// The FUSE device descriptor (for the passthrough ioctls); -1 until mounted.
    var device: Int32 = -1
    /// Backing files registered for passthrough: per me/ node, its ID and how many opens use it.
    let backings = Mutex<BackingTable>(BackingTable())
    /// Requests answered from tasks (reads, search listings): interrupted by the kernel, and
    /// answered before the session is freed.
    let pending = PendingReplies()
    /// Open files outside me/, by file handle (handles of me/ files carry the local bit).
    let openFiles = Mutex<(next: UInt64, files: [UInt64: OpenFile])>((1, [:]))
    /// Read and write requests of me/ files that reached the node (none with passthrough).
    let localDataRequests = Atomic<Int>(0)
    /// The kernel's `security.capability` questions about me/ files (before a write, to know
    /// whether it must clear file capabilities): one per write without KILLPRIV_V2.
    let capabilityProbes = Atomic<Int>(0)
    /// LOOKUP requests of me/ names (a listing with attributes spares one per listed name).
    let localLookups = Atomic<Int>(0)
    /// Whether me/ is the share folder bound onto the drive (FuseMount+ShareView).
    let shareBound = Atomic(false)
    /// READLINK requests of me as a link to the share folder: the kernel keeps the link's text,
    /// so one, not one per path through me/.
    let shareLinkReads = Atomic<Int>(0)

    /// How me/ is provided (FuseMount+ShareView).
    public let shareView: ShareView

    public init(fs: PeernetFileSystem, mountpoint: String, allowOther: Bool = false, passthrough: Bool? = nil, shareView: ShareView = .fuse) {
        self.fs = fs
        self.mountpoint = mountpoint
        self.allowOther = allowOther
        self.shareView = shareView
        closeCanFail = !Self.filesystemsWithoutFlush.contains(peernet_fs_type(fs.publisher.folder.path))
        passthroughWanted = passthrough ?? (ProcessInfo.processInfo.environment["PEERNET_FUSE_PASSTHROUGH"] != "0")
    }

    /// Clears a mount left dead by a crashed process ("Transport endpoint is not connected").
    /// (`statfs` always asks the file system; `access` and `stat` may be answered from the
    /// kernel's caches for a while after the process died.)
    public static func clearStaleMount(_ path: String) {
        if isDead(path) {
            releaseBoundShare(at: path)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/fusermount3")
            if !FileManager.default.isExecutableFile(atPath: p.executableURL!.path) { p.executableURL = URL(fileURLWithPath: "/usr/bin/fusermount3") }
            p.arguments = ["-uz", path]
            try? p.run()
            p.waitUntilExit()
            if isDead(path) { umount2(path, Int32(MNT_DETACH)) }
        }
    }

    /// A FUSE mount whose process is gone: "Transport endpoint is not connected".
    public static func isDead(_ path: String) -> Bool {
        var st = statvfs()
        return statvfs(path, &st) != 0 && errno == ENOTCONN
    }

    public enum MountError: Error, CustomStringConvertible {
        case failed(String)
        public var description: String {
            switch self { case .failed(let m): return m }
        }
    }

    /// The largest read request: 1008 KiB, not 1 MiB. libfuse splices a reply from the cache or
    /// warehouse file into the kernel only if the reply, its header and three pages of slack fit
    /// one pipe, and an unprivileged process cannot grow a pipe past `fs.pipe-max-size`
    /// (1 MiB by default): with 1 MiB requests every reply fell back to a read into a buffer and
    /// a write from it (two copies instead of one; measured, `perf`). Kernel read-ahead is set
    /// to the same size, so sequential reads arrive as whole requests of this size.
    static let maxRead = 1008 << 10

    /// Mounts (the session exists and the kernel knows the mount when this returns).
    public func mount() throws {
        Self.clearStaleMount(mountpoint)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: mountpoint, isDirectory: &isDir), isDir.boolValue else {
            throw MountError.failed("the mount point \(mountpoint) is not a directory; create it first (mkdir -p \(mountpoint))")
        }
        var args = ["peernet", "-o", "fsname=peernet", "-o", "subtype=peernet", "-o", "max_read=\(Self.maxRead)"]
        // Permission checks: a private mount is used only by the user who mounted it (the kernel
        // refuses everyone else), and the node works in the share folder as that same user, so
        // the folder's own checks apply to every operation there (ACCESS asks them too). The
        // kernel's checks (default_permissions) would cost a GETATTR of the folder after every
        // file made or removed in it, whose attributes it then must refresh: one of the four
        // round trips per file of a `cp -r` (measured). Shared with other users (allow_other),
        // the kernel checks each caller's permissions.
        if allowOther { args += ["-o", "allow_other", "-o", "default_permissions"] }
        prepareShareView()
        let cStrings = args.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var argv: [UnsafeMutablePointer<CChar>?] = cStrings
        let session: OpaquePointer? = argv.withUnsafeMutableBufferPointer { buffer in
            var fargs = fuse_args(argc: Int32(args.count), argv: buffer.baseAddress, allocated: 0)
            var ops = FuseMount.operations()
            let ctx = Unmanaged.passRetained(self)
            context = ctx
            let s = peernet_fuse_session_new(&fargs, &ops, ctx.toOpaque())
            fuse_opt_free_args(&fargs)
            return s
        }
        guard let session else { throw MountError.failed("cannot create a FUSE session (is /dev/fuse available? install fuse3)") }
        guard fuse_session_mount(session, mountpoint) == 0 else {
            fuse_session_destroy(session)
            throw MountError.failed("cannot mount at \(mountpoint) (is it already a mount? try: peernet unmount \(mountpoint))")
        }
        self.session = session
        device = fuse_session_fd(session)
        installInitHooks(session)
        Self.raiseReadAhead(mountpoint, kilobytes: Self.maxRead >> 10)
        liveSession.withLock { $0 = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(session))) }
        fs.invalidator.withLock { $0 = .init { [weak self] entries, inodes in self?.invalidate(entries: entries, inodes: inodes) } }
    }

    /// Lets the kernel read ahead `maxRead` instead of the default 128 KiB (FUSE caps read-ahead
    /// at the backing device's setting): sequential reads of remote files then arrive as
    /// requests of ~1 MiB, an eighth of the per-request overhead. Needs root; skipped quietly
    /// otherwise.
    /// The device is found in /proc/self/mountinfo: a stat of the mount point would wait on
    /// this very file system, whose loop is not running yet.
    static func raiseReadAhead(_ mountpoint: String, kilobytes: Int) {
        guard let info = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return }
        for line in info.split(separator: "\n").reversed() {
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[4] == mountpoint else { continue }
            let path = "/sys/class/bdi/\(fields[2])/read_ahead_kb"
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            let text = "\(kilobytes)\n"
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
            return
        }
    }

    /// The session while its loop runs, for kernel notifications and `stop()`; 0 once the loop
    /// has ended, before the session is freed. (`stop()` read `session` itself, unlocked, so a
    /// stop during the end of a loop that an unmount had ended could reach a freed session:
    /// ThreadSanitizer reported the race.)
    private let liveSession = Mutex<UInt>(0)  // the fuse_session pointer's bits

    /// Drops kernel-cached entries and inode data (from a task, never inside a request).
    func invalidate(entries: [(parent: UInt64, name: String)], inodes: [UInt64]) {
        liveSession.withLock { bits in
            guard let se = OpaquePointer(bitPattern: bits) else { return }
            for e in entries { _ = fuse_lowlevel_notify_inval_entry(se, fuse_ino_t(e.parent), e.name, e.name.utf8.count) }
            for i in inodes { _ = fuse_lowlevel_notify_inval_inode(se, fuse_ino_t(i), 0, 0) }
        }
    }

    /// Serves requests until unmounted (blocking; multi-threaded).
    public func run() {
        guard let session else { return }
        _ = peernet_fuse_loop_mt(session, 16)
        releaseShare()
        liveSession.withLock { $0 = 0 }
        fs.invalidator.withLock { $0 = nil }
        // Replies still due (reads waiting for a holder) are cancelled and answered first: a
        // reply after fuse_session_destroy would write through freed memory. One that does not
        // come in time leaves the session allocated (a small leak, not a crash).
        let answered = pending.cancelAllAndWait(timeout: Self.shutdownWait)
        fuse_session_unmount(session)
        if answered {
            fuse_session_destroy(session)
        } else {
            fsLog.warning("\(pending.count) replies still due when the mount ended; its session is left allocated")
        }
        self.session = nil
        context?.release()
        context = nil
    }

    /// How long the end of a mount waits for replies still due (cancelled reads answer at once).
    static let shutdownWait = 10.0

    /// Ends the loop from another thread: exit flag, then a lazy unmount to wake the kernel read.
    public func stop() {
        guard stopped.withLock({ s in defer { s = true }; return !s }) else { return }
        liveSession.withLock { bits in
            if let se = OpaquePointer(bitPattern: bits) { fuse_session_exit(se) }
        }
        releaseShare()
        umount2(mountpoint, Int32(MNT_DETACH))
    }

    // MARK: Callbacks

    static func mount(_ req: fuse_req_t?) -> FuseMount {
        Unmanaged<FuseMount>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
    }

    func makeStat(for inode: UInt64, _ a: FSAttributes) -> stat {
        var st = Glibc.stat()
        st.st_ino = UInt(inode)
        // Remote entries show the modes of ordinary files and folders (0644/0755): a copy of
        // them (cp -r peers/x ~/) must be a normal, removable tree, not 0444/0555 that needs
        // chmod before rm -r. Writes are refused with EROFS, as on a read-only mount.
        st.st_mode = a.isDirectory ? (S_IFDIR | 0o755) : (S_IFREG | 0o644)
        if a.isSymlink { st.st_mode = S_IFLNK | 0o777 }
        st.st_nlink = a.isDirectory ? 2 : 1
        st.st_size = off_t(a.size)
        st.st_blocks = blkcnt_t((a.size + 511) / 512)
        st.st_blksize = 1 << 20
        st.st_uid = getuid()
        st.st_gid = getgid()
        st.st_mtim.tv_sec = Int(a.modified)
        st.st_ctim.tv_sec = Int(a.modified)
        st.st_atim.tv_sec = Int(a.modified)
        return st
    }

    /// Attribute/entry cache time for a node: long for immutable remote content.
    func cacheTime(_ n: FSNode) -> Double { n.file?.cacheTime ?? 1 }

    func replyEntry(_ req: fuse_req_t?, _ n: FSNode) {
        if case .local(let key) = n {
            // me/ itself (its entries come from localLookup).
            do { return replyLocalEntry(req, key, try fs.share.stat(key)) } catch { return Self.fail(req, error) }
        }
        do {
            let a = try fs.attributes(n)
            let ino = fs.lookedUp(n)
            var e = fuse_entry_param()
            e.ino = ino
            e.attr = makeStat(for: ino, a)
            e.attr_timeout = cacheTime(n)
            e.entry_timeout = cacheTime(n)
            fuse_reply_entry(req, &e)
        } catch {
            fuse_reply_err(req, (error as? FSError)?.errno ?? EIO)
        }
    }

    /// Replies with the error's errno; errors that are not plain file-system answers (network
    /// failures, storage errors) are logged with their reason, which errno cannot carry.
    static func fail(_ req: fuse_req_t?, _ error: Error) {
        if let e = error as? FSError, e != .io {
            fuse_reply_err(req, e.errno)
            return
        }
        fsLog.warning("operation failed (EIO): \(error)")
        fuse_reply_err(req, (error as? FSError)?.errno ?? EIO)
    }

    /// From a task of `PendingReplies`: EINTR if it was cancelled (its caller got a signal, or
    /// the mount ends), else the error.
    static func failOrInterrupted(_ req: fuse_req_t?, _ error: Error) {
        if Task.isCancelled || error is CancellationError { return reply(req, EINTR) }
        fail(req, error)
    }

    static func reply(_ req: fuse_req_t?, _ errno: Int32) {
        fuse_reply_err(req, errno)
    }

    /// `.Trash-<uid>` (and `.Trash`) at the top of the mount, where GLib and file managers put
    /// what is deleted from any folder of the mount: it is the folder of that name inside the
    /// share folder, so a trashed file of me/ moves with one rename, is unpublished there (an
    /// ignored folder), and can be restored.
    static func isTrash(_ name: UnsafePointer<CChar>) -> Bool {
        let text = String(cString: name)
        return text == ".Trash" || (text.hasPrefix(".Trash-") && text.dropFirst(7).allSatisfy(\.isNumber) && text.count > 7)
    }

    /// Lists a directory outside me/ (snapshot per open handle; see readdir). With `plus`, the
    /// entries carry no node (ino 0): the kernel looks them up as after a plain readdir.
    func readdir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ off: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?, plus: Bool) {
        let m = self
        guard let dir = m.fs.node(for: ino) else { return FuseMount.reply(req, ENOENT) }
            let r = Request(raw: req!)
            let handle = fi?.pointee.fh ?? 0
            let work: @Sendable () -> Void = {
                do {
                    var entries: [(String, FSNode)]
                    if off > 0, let snapshot = m.directoryHandles.withLock({ $0.listings[handle] }) {
                        entries = snapshot
                    } else {
                        entries = [(".", dir), ("..", dir)]
                        entries += try m.fs.children(of: dir)
                        let listing = entries
                        if handle != 0 { m.directoryHandles.withLock { $0.listings[handle] = listing } }
                    }
                    var buffer = [CChar](repeating: 0, count: size)
                    var used = 0
                    var index = Int(off)
                    while index < entries.count {
                        let (name, n) = entries[index]
                        var st = Glibc.stat()
                        st.st_ino = UInt(m.fs.listingInode(for: n))
                        st.st_mode = n.isDirectory ? S_IFDIR : n.isSymlink ? S_IFLNK : S_IFREG
                        let needed: Int
                        if plus {
                            var entry = fuse_entry_param()
                            entry.attr = st
                            needed = buffer.withUnsafeMutableBufferPointer { b in
                                fuse_add_direntry_plus(r.raw, b.baseAddress! + used, size - used, name, &entry, off_t(index + 1))
                            }
                        } else {
                            needed = buffer.withUnsafeMutableBufferPointer { b in
                                fuse_add_direntry(r.raw, b.baseAddress! + used, size - used, name, &st, off_t(index + 1))
                            }
                        }
                        if needed > size - used { break }
                        used += needed
                        index += 1
                    }
                    buffer.withUnsafeBufferPointer { _ = fuse_reply_buf(r.raw, $0.baseAddress, used) }
                } catch { FuseMount.fail(r.raw, error) }
            }
            // A search listing waits (bounded) for results, in a task (off the FUSE thread) that
            // an interrupt cancels: Ctrl-C on `ls search/x` ends it at once. Later chunks come
            // from the snapshot.
            if off == 0, let kind = dir.directory, kind.waitsOnNetwork {
                m.pending.start(req) {
                    do { try await kind.ready(m.fs) } catch { return FuseMount.failOrInterrupted(r.raw, error) }
                    work()
                }
            } else {
                work()
            }
            }

    static func operations() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let conn else { return }
            // me as a link to the share folder: the kernel keeps the link's text, so a path
            // through me/ costs no READLINK round trip (it never changes while mounted).
            if let userdata, Unmanaged<FuseMount>.fromOpaque(userdata).takeUnretainedValue().fs.isShareLinked {
                conn.pointee.want |= conn.pointee.capable & UInt32(FUSE_CAP_CACHE_SYMLINKS)
            }
            conn.pointee.max_readahead = UInt32(FuseMount.maxRead)
            conn.pointee.max_read = UInt32(FuseMount.maxRead)
            conn.pointee.max_write = 1 << 20
            // Asked for, but libfuse reads a request by splice only if a pipe can hold the largest
            // one: with max_write 1 MiB that needs a pipe over 1 MiB, past the default
            // fs.pipe-max-size, so requests are read with read(2) (strace: no splice calls).
            let spliceRead = UInt32(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_MOVE)
            conn.pointee.want |= conn.pointee.capable & spliceRead

            // Content replies splice from the warehouse/cache files into the kernel.
            let splice = UInt32(FUSE_CAP_SPLICE_WRITE)
            if conn.pointee.capable & splice != 0 { conn.pointee.want |= splice }
            // O_DIRECT reads as requests the reader waits on, one at a time: the kernel sends an
            // INTERRUPT only for those (see PendingReplies). With asynchronous direct I/O the
            // reader waited uninterruptibly, even for SIGKILL, until the node answered (up to
            // the read timeout when a holder went quiet). Reads through the page cache are
            // read-ahead, which a fatal signal ends anyway.
            conn.pointee.want &= ~UInt32(FUSE_CAP_ASYNC_DIO)
            // Every listing with attributes (READDIRPLUS), not only its first chunk: with the
            // kernel's default ("auto"), only the first chunk of a folder's listing came with
            // attributes, so `rm -r` and `ls -l` of a large me/ folder made a LOOKUP round trip
            // per file after the listing. Outside me/ the entries carry no node and cost nothing.
            conn.pointee.want &= ~UInt32(FUSE_CAP_READDIRPLUS_AUTO)
        }
        ops.lookup = { req, parent, name in
            let m = FuseMount.mount(req)
            if let key = m.localKey(parent), let name { return m.localLookup(req, key, name) }
            if parent == FUSE_ROOT_ID, let name, FuseMount.isTrash(name) { return m.localLookup(req, m.fs.share.rootKey, name) }
            // A name longer than any the drive shows (255 bytes) is "too long", not "missing".
            if let name, strlen(name) > NameSanitizer.maxBytes { return FuseMount.reply(req, ENAMETOOLONG) }
            guard let parentNode = m.fs.node(for: parent), let name else { return FuseMount.reply(req, ENOENT) }
            let n = String(cString: name)
            let r = Request(raw: req!)
            if let kind = parentNode.directory, kind.waitsOnNetwork, m.fs.listedChild(parentNode, n) == nil {
                // A name not listed yet: as a listing, after waiting for the first results.
                m.pending.start(req) {
                    do { try await kind.ready(m.fs) } catch { return FuseMount.failOrInterrupted(r.raw, error) }
                    do { m.replyEntry(r.raw, try m.fs.lookup(parentNode, n)) } catch { FuseMount.fail(r.raw, error) }
                }
                return
            }
            do { m.replyEntry(req, try m.fs.lookup(parentNode, n)) } catch { FuseMount.fail(req, error) }
        }
        ops.forget = { req, ino, count in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino) { m.fs.share.forget(key, count) } else { m.fs.forget(ino, count) }
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, list in
            let m = FuseMount.mount(req)
            if let list {
                for i in 0..<count {
                    if let key = m.localKey(list[i].ino) { m.fs.share.forget(key, list[i].nlookup) } else { m.fs.forget(list[i].ino, list[i].nlookup) }
                }
            }
            fuse_reply_none(req)
        }
        ops.getattr = { req, ino, fi in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino) { return m.localGetattr(req, key, handle: fi.flatMap { FuseMount.localHandle($0.pointee.fh) }) }
            guard let n = m.fs.node(for: ino) else { return FuseMount.reply(req, ENOENT) }
            do {
                var st = m.makeStat(for: ino, try m.fs.attributes(n))
                fuse_reply_attr(req, &st, m.cacheTime(n))
            } catch { FuseMount.fail(req, error) }
        }
        ops.readlink = { req, ino in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino) { return m.localReadlink(req, key) }
            guard let n = m.fs.node(for: ino) else { return FuseMount.reply(req, ENOENT) }
            if n == .shareLink { m.shareLinkReads.add(1, ordering: .relaxed) }
            do { _ = fuse_reply_readlink(req, try m.fs.linkTarget(n)) } catch { FuseMount.fail(req, error) }
        }
        ops.setattr = { req, ino, attr, toSet, fi in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino), let attr {
                return m.localSetattr(req, key, attr, toSet, fi.flatMap { FuseMount.localHandle($0.pointee.fh) })
            }
            guard let n = m.fs.node(for: ino) else { return FuseMount.reply(req, ENOENT) }
            // Outside me/ nothing can be changed (remote content, status files, listings).
            if toSet & (SetAttr.mode | SetAttr.uid | SetAttr.gid | SetAttr.size) != 0 { return FuseMount.reply(req, EROFS) }
            do {
                var st = m.makeStat(for: ino, try m.fs.attributes(n))
                fuse_reply_attr(req, &st, m.cacheTime(n))
            } catch { FuseMount.fail(req, error) }
        }
        ops.opendir = { req, ino, fi in
            let m = FuseMount.mount(req)
            guard m.fs.node(for: ino) != nil, let fi else { return FuseMount.reply(req, ENOENT) }
            fi.pointee.fh = m.directoryHandles.withLock { h in
                defer { h.next += 1 }
                h.listings[h.next] = nil
                return h.next
            }
            fuse_reply_open(req, fi)
        }
        ops.releasedir = { req, _, fi in
            let m = FuseMount.mount(req)
            if let fi {
                _ = m.directoryHandles.withLock { $0.listings.removeValue(forKey: fi.pointee.fh) }
                _ = FuseMount.localListings.withLock { $0.removeValue(forKey: fi.pointee.fh) }
            }
            FuseMount.reply(req, 0)
        }
        ops.fsyncdir = { req, ino, _, _ in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino) { return m.localFsyncdir(req, key) }
            FuseMount.reply(req, 0)
        }
        // The listing is computed once per open directory (at offset 0) and served from that
        // snapshot for the following chunks: a 10,000-file directory is read in hundreds of
        // calls, and offsets must stay stable between them.
        // READDIRPLUS: me/ answers with attributes (each entry a lookup); elsewhere entries carry
        // no node (ino 0), so the kernel looks them up as after a plain readdir.
        ops.readdirplus = { req, ino, size, off, fi in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino) { return m.localReaddir(req, key, fi?.pointee.fh ?? 0, size, off, plus: true) }
            m.readdir(req, ino, size, off, fi, plus: true)
        }
        ops.readdir = { req, ino, size, off, fi in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino) { return m.localReaddir(req, key, fi?.pointee.fh ?? 0, size, off) }
            m.readdir(req, ino, size, off, fi, plus: false)
        }
        ops.open = { req, ino, fi in
            let m = FuseMount.mount(req)
            guard let fi else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(ino) { return m.localOpen(req, key, fi) }
            guard let n = m.fs.node(for: ino) else { return FuseMount.reply(req, ENOENT) }
            let flags = fi.pointee.flags
            guard flags & O_ACCMODE == O_RDONLY, flags & O_TRUNC == 0 else { return FuseMount.reply(req, EROFS) }
            guard let kind = n.file else { return FuseMount.reply(req, EISDIR) }
            switch kind.caching {
            case .keep: fi.pointee.keep_cache = 1
            case .none: fi.pointee.direct_io = 1
            }
            let file: any FSFile
            do { file = try kind.opened(m.fs) } catch { return FuseMount.fail(req, error) }
            fi.pointee.fh = m.openFiles.withLock { o in
                defer { o.next += 1 }
                o.files[o.next] = OpenFile(file: file)
                return o.next
            }
            fuse_reply_open(req, fi)
        }
        ops.create = { req, parent, name, mode, fi in
            let m = FuseMount.mount(req)
            guard let name, let fi else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(parent) { return m.localCreate(req, key, name, mode, fi) }
            FuseMount.reply(req, m.fs.node(for: parent) == nil ? ENOENT : EROFS)
        }
        ops.read = { req, ino, size, off, fi in
            let m = FuseMount.mount(req)
            if let fd = fi.flatMap({ FuseMount.localHandle($0.pointee.fh) }) { return m.localRead(req, fd, size, off) }
            let open = fi.flatMap { fi in m.openFiles.withLock { $0.files[fi.pointee.fh] } }
            guard let file = open?.file ?? m.fs.node(for: ino)?.file else { return FuseMount.reply(req, m.fs.node(for: ino) == nil ? ENOENT : EISDIR) }
            let r = Request(raw: req!)
            m.pending.start(req) {
                do {
                    switch try await file.readData(m.fs, offset: UInt64(off), length: size, open: open) {
                    case .bytes(let data):
                        data.withUnsafeBytes { _ = fuse_reply_buf(r.raw, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
                    case .file(let region):
                        let sent = peernet_fuse_reply_fd(r.raw, region.fd, off_t(region.offset), region.length)
                        if sent == 0 && region.dropAfterReply {
                            _ = posix_fadvise(region.fd, off_t(region.offset), off_t(region.length), POSIX_FADV_DONTNEED)
                        }
                    }
                } catch { FuseMount.failOrInterrupted(r.raw, error) }
            }
        }
        ops.write = { req, _, buf, size, off, fi in
            let m = FuseMount.mount(req)
            guard let buf, let fd = fi.flatMap({ FuseMount.localHandle($0.pointee.fh) }) else { return FuseMount.reply(req, EBADF) }
            m.localWrite(req, fd, buf, size, off)
        }
        // Writes as buffers: spliced from the kernel's pipe into the file when libfuse read the
        // request by splice (one copy fewer than write's buffer, then pwrite).
        ops.write_buf = { req, _, bufv, off, fi in
            guard let bufv, let fd = fi.flatMap({ FuseMount.localHandle($0.pointee.fh) }) else { return FuseMount.reply(req, EBADF) }
            FuseMount.mount(req).localDataRequests.add(1, ordering: .relaxed)
            peernet_fuse_write_buf_to_fd(req, bufv, fd, off)
        }
        ops.flush = { req, _, fi in
            let m = FuseMount.mount(req)
            // ENOSYS: the kernel sends no FLUSH again (see closeCanFail); remote files have
            // nothing to flush either.
            guard m.closeCanFail else { return FuseMount.reply(req, ENOSYS) }
            if let fd = fi.flatMap({ FuseMount.localHandle($0.pointee.fh) }) { return m.localFlush(req, fd) }
            FuseMount.reply(req, 0)
        }
        ops.release = { req, _, fi in
            let m = FuseMount.mount(req)
            if let fd = fi.flatMap({ FuseMount.localHandle($0.pointee.fh) }) { return m.localRelease(req, fd) }
            if let fh = fi?.pointee.fh { _ = m.openFiles.withLock { $0.files.removeValue(forKey: fh) } }
            FuseMount.reply(req, 0)
        }
        ops.fsync = { req, _, datasync, fi in
            let m = FuseMount.mount(req)
            if let fd = fi.flatMap({ FuseMount.localHandle($0.pointee.fh) }) { return m.localFsync(req, fd, dataOnly: datasync != 0) }
            FuseMount.reply(req, 0)
        }
        ops.fallocate = { req, _, mode, offset, length, fi in
            let m = FuseMount.mount(req)
            guard let fd = fi.flatMap({ FuseMount.localHandle($0.pointee.fh) }) else { return FuseMount.reply(req, EROFS) }
            m.localFallocate(req, fd, mode, offset, length)
        }
        ops.lseek = { req, _, offset, whence, fi in
            let m = FuseMount.mount(req)
            guard let fd = fi.flatMap({ FuseMount.localHandle($0.pointee.fh) }) else { return FuseMount.reply(req, ENOSYS) }
            m.localLseek(req, fd, offset, whence)
        }
        ops.unlink = { req, parent, name in
            let m = FuseMount.mount(req)
            guard let name else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(parent) { return m.localUnlink(req, key, name, directory: false) }
            FuseMount.reply(req, m.fs.node(for: parent) == nil ? ENOENT : EROFS)
        }
        ops.rmdir = { req, parent, name in
            let m = FuseMount.mount(req)
            guard let name else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(parent) { return m.localUnlink(req, key, name, directory: true) }
            // Outside me/, what the directory's kind allows (search/: forgetting a search).
            guard let kind = m.fs.node(for: parent)?.directory else { return FuseMount.reply(req, ENOENT) }
            do { try kind.remove(String(cString: name), m.fs); FuseMount.reply(req, 0) } catch { FuseMount.fail(req, error) }
        }
        ops.mkdir = { req, parent, name, mode in
            let m = FuseMount.mount(req)
            guard let name else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(parent) { return m.localMake(req, key, name, mode: mode) { mkdirat($0, name, mode) } }
            if parent == FUSE_ROOT_ID, FuseMount.isTrash(name) {
                return m.localMake(req, m.fs.share.rootKey, name, mode: mode) { mkdirat($0, name, mode) }
            }
            FuseMount.reply(req, m.fs.node(for: parent) == nil ? ENOENT : EROFS)
        }
        ops.mknod = { req, parent, name, mode, rdev in
            let m = FuseMount.mount(req)
            guard let name else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(parent) { return m.localMake(req, key, name, mode: mode) { mknodat($0, name, mode, rdev) } }
            FuseMount.reply(req, m.fs.node(for: parent) == nil ? ENOENT : EROFS)
        }
        ops.symlink = { req, target, parent, name in
            let m = FuseMount.mount(req)
            guard let name, let target else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(parent) { return m.localMake(req, key, name) { symlinkat(target, $0, name) } }
            FuseMount.reply(req, m.fs.node(for: parent) == nil ? ENOENT : EROFS)
        }
        ops.link = { req, ino, newParent, newName in
            let m = FuseMount.mount(req)
            guard let newName else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(ino), let parent = m.localKey(newParent) { return m.localLink(req, key, parent, newName) }
            FuseMount.reply(req, m.localKey(ino) != nil || m.localKey(newParent) != nil ? EXDEV : EROFS)
        }
        ops.rename = { req, parent, name, newParent, newName, flags in
            let m = FuseMount.mount(req)
            guard let name, let newName else { return FuseMount.reply(req, EINVAL) }
            if let from = m.localKey(parent), let to = m.localKey(newParent) { return m.localRename(req, from, name, to, newName, flags) }
            // Between me/ and the rest: mv falls back to copy and delete, which gives EROFS where it must.
            FuseMount.reply(req, m.localKey(parent) != nil || m.localKey(newParent) != nil ? EXDEV : EROFS)
        }
        // access(2) and chdir (without default_permissions): me/ asks the share folder; the
        // rest answers from its modes (the mount's user owns everything it shows).
        ops.access = { req, ino, mask in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino) { return m.localAccess(req, key, mask) }
            guard let n = m.fs.node(for: ino), let attributes = try? m.fs.attributes(n) else { return FuseMount.reply(req, ENOENT) }
            let mode = m.makeStat(for: ino, attributes).st_mode
            var allowed = mask & W_OK == 0 || mode & S_IWUSR != 0
            if mask & R_OK != 0, mode & S_IRUSR == 0, getuid() != 0 { allowed = false }
            if mask & X_OK != 0, mode & (S_IXUSR | S_IXGRP | S_IXOTH) == 0 { allowed = false }
            FuseMount.reply(req, allowed ? 0 : EACCES)
        }
        ops.statfs = { req, _ in
            let m = FuseMount.mount(req)
            // df reports the share folder's file system (where me/ writes go).
            var vfs = statvfs()
            if statvfs(m.fs.share.path, &vfs) != 0 { vfs = statvfs() }
            vfs.f_namemax = UInt(NameSanitizer.maxBytes)
            fuse_reply_statfs(req, &vfs)
        }
        ops.getxattr = { req, ino, name, size in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino), let name { return m.localGetxattr(req, key, name, size) }
            guard let n = m.fs.node(for: ino), let name else { return FuseMount.reply(req, ENOENT) }
            // ls -l asks every file for its security label and ACL. Namespaces other than
            // user.* are not supported (EOPNOTSUPP, as the kernel answers for a namespace without
            // a handler): ls then remembers that for the whole device and stops asking, instead
            // of a round trip to us for each of 10,000 files (ENODATA made it ask every file).
            let key = String(cString: name)
            guard key.hasPrefix("user.") else { return FuseMount.reply(req, EOPNOTSUPP) }  // (me/ answered above)
            guard key.hasPrefix("user.peernet."), let value = m.fs.xattrs(n)[key] else { return FuseMount.reply(req, ENODATA) }
            if size == 0 { fuse_reply_xattr(req, value.count); return }
            guard value.count <= size else { return FuseMount.reply(req, ERANGE) }
            value.withUnsafeBytes { _ = fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        ops.setxattr = { req, ino, name, value, size, flags in
            let m = FuseMount.mount(req)
            guard let name else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(ino) { return m.localSetxattr(req, key, name, value, size, flags) }
            FuseMount.reply(req, String(cString: name).hasPrefix("user.") ? EROFS : EOPNOTSUPP)
        }
        ops.removexattr = { req, ino, name in
            let m = FuseMount.mount(req)
            guard let name else { return FuseMount.reply(req, EINVAL) }
            if let key = m.localKey(ino) { return m.localRemovexattr(req, key, name) }
            FuseMount.reply(req, String(cString: name).hasPrefix("user.") ? EROFS : EOPNOTSUPP)
        }
        ops.listxattr = { req, ino, size in
            let m = FuseMount.mount(req)
            if let key = m.localKey(ino) { return m.localListxattr(req, key, size) }
            guard let n = m.fs.node(for: ino) else { return FuseMount.reply(req, ENOENT) }
            var list: [UInt8] = []
            for key in m.fs.xattrs(n).keys.sorted() { list += Array(key.utf8) + [0] }
            if size == 0 { fuse_reply_xattr(req, list.count); return }
            guard list.count <= size else { return FuseMount.reply(req, ERANGE) }
            list.withUnsafeBytes { _ = fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        return ops
    }
}
