import CFuse3
import CLinuxCalls
import Foundation
import PeernetStore
import PeernetSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// me/: every operation passes through to the share folder with the local file system's own
/// semantics (rename over a name, links, modes, times, fsync, locks, sparse files, xattrs).
/// What a call returned is what the disk did: a write that succeeded is in the folder whatever
/// happens to publishing, and ENOSPC or EIO reach the call that caused them.
///
/// Open files are real descriptors; their handle is the descriptor with the top bit set.
/// Locks are left to the kernel (no lock handlers: it keeps POSIX and flock locks itself).
extension FuseMount {
    static let localTimeout = 1.0

    /// FUSE_SET_ATTR_* (macros in the C header).
    enum SetAttr {
        static let mode: Int32 = 1 << 0, uid: Int32 = 1 << 1, gid: Int32 = 1 << 2, size: Int32 = 1 << 3
        static let atime: Int32 = 1 << 4, mtime: Int32 = 1 << 5, atimeNow: Int32 = 1 << 7, mtimeNow: Int32 = 1 << 8
    }

    func localKey(_ ino: fuse_ino_t) -> UInt64? {
        ino & ShareFolderInodes.localBit != 0 ? ino & ~ShareFolderInodes.localBit : nil
    }

    static func localHandle(_ fh: UInt64) -> Int32? {
        fh & ShareFolderInodes.localBit != 0 ? Int32(truncatingIfNeeded: fh & 0xffff_ffff) : nil
    }

    /// The stat the kernel sees: the backing file's, under the node number.
    func localStat(_ key: UInt64, _ st: stat) -> stat {
        var out = st
        out.st_ino = UInt(ShareFolderInodes.localBit | key)
        return out
    }

    func replyLocalEntry(_ req: fuse_req_t?, _ key: UInt64, _ st: stat) {
        var e = fuse_entry_param()
        e.ino = ShareFolderInodes.localBit | key
        e.attr = localStat(key, st)
        e.attr_timeout = Self.localTimeout
        e.entry_timeout = Self.localTimeout
        fuse_reply_entry(req, &e)
    }

    /// Created files and folders belong to the caller, not to a node running as root.
    func giveToCaller(_ req: fuse_req_t?, dir: Int32, name: UnsafePointer<CChar>) {
        guard geteuid() == 0, let ctx = fuse_req_ctx(req), ctx.pointee.uid != 0 || ctx.pointee.gid != 0 else { return }
        _ = fchownat(dir, name, ctx.pointee.uid, ctx.pointee.gid, AT_SYMLINK_NOFOLLOW)
    }

    // MARK: Names

    func localLookup(_ req: fuse_req_t?, _ parent: UInt64, _ name: UnsafePointer<CChar>) {
        localLookups.add(1, ordering: .relaxed)
        do {
            let (key, st) = try fs.share.lookup(parent: parent, name: name)
            replyLocalEntry(req, key, st)
        } catch { Self.fail(req, error) }
    }

    /// Makes something in a folder with `make(dirfd)`, then answers with its entry. `mode`
    /// arrives with the caller's umask applied; it is set exactly, since the node's own umask
    /// would be applied a second time (a umask-0 program's 0666 file came out 0644).
    func localMake(_ req: fuse_req_t?, _ parent: UInt64, _ name: UnsafePointer<CChar>, mode: mode_t? = nil, _ make: (Int32) -> Int32) {
        guard let dir = fs.share.directoryFD(parent) else { return Self.reply(req, ENOENT) }
        guard make(dir) == 0 else { return Self.reply(req, errno) }
        if let mode, Self.umaskChanges(mode) { _ = fchmodat(dir, name, mode & 0o7777, 0) }
        giveToCaller(req, dir: dir, name: name)
        localLookup(req, parent, name)
        fs.publisher.changed()
    }

    func localUnlink(_ req: fuse_req_t?, _ parent: UInt64, _ name: UnsafePointer<CChar>, directory: Bool) {
        guard let dir = fs.share.directoryFD(parent) else { return Self.reply(req, ENOENT) }
        let rc = unlinkat(dir, name, directory ? AT_REMOVEDIR : 0)
        Self.reply(req, rc == 0 ? 0 : errno)
        if rc == 0 { fs.publisher.changed() }
    }

    func localRename(_ req: fuse_req_t?, _ parent: UInt64, _ name: UnsafePointer<CChar>, _ newParent: UInt64,
                     _ newName: UnsafePointer<CChar>, _ flags: UInt32) {
        guard let from = fs.share.directoryFD(parent), let to = fs.share.directoryFD(newParent) else { return Self.reply(req, ENOENT) }
        let rc = flags == 0 ? renameat(from, name, to, newName) : peernet_renameat2(from, name, to, newName, flags)
        let error = errno
        if rc == 0 {
            if flags & 2 /* RENAME_EXCHANGE */ != 0 {
                // Both names swapped: keep both entries right (through a name no file has).
                let swap = Array("\u{1}peernet-exchange\u{0}".utf8CString)
                swap.withUnsafeBufferPointer { tmp in
                    fs.share.renamed(from: parent, name, to: UInt64.max, tmp.baseAddress!)
                    fs.share.renamed(from: newParent, newName, to: parent, name)
                    fs.share.renamed(from: UInt64.max, tmp.baseAddress!, to: newParent, newName)
                }
            } else {
                fs.share.renamed(from: parent, name, to: newParent, newName)
            }
        }
        Self.reply(req, rc == 0 ? 0 : error)
        if rc == 0 { fs.publisher.changed() }
    }

    func localLink(_ req: fuse_req_t?, _ key: UInt64, _ newParent: UInt64, _ newName: UnsafePointer<CChar>) {
        guard let to = fs.share.directoryFD(newParent) else { return Self.reply(req, ENOENT) }
        do {
            try fs.share.withNode(key) { fd in
                var rc = linkat(fd, "", to, newName, AT_EMPTY_PATH)
                if rc != 0 && (errno == ENOENT || errno == EPERM) {
                    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link works for everyone.
                    rc = linkat(AT_FDCWD, "/proc/self/fd/\(fd)", to, newName, AT_SYMLINK_FOLLOW)
                }
                guard rc == 0 else { throw FSError(errno: errno) }
            }
        } catch { return Self.fail(req, error) }
        localLookup(req, newParent, newName)
    }

    func localReadlink(_ req: fuse_req_t?, _ key: UInt64) {
        do {
            let buffer = try fs.share.withNode(key) { fd -> [CChar] in
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(fd, "", &buffer, Int(PATH_MAX))
                guard n >= 0 else { throw FSError(errno: errno) }
                buffer[n] = 0
                return buffer
            }
            _ = fuse_reply_readlink(req, buffer)
        } catch { Self.fail(req, error) }
    }

    // MARK: Attributes

    /// access(2) of a me/ node: the share folder's answer for the node's (same) user.
    func localAccess(_ req: fuse_req_t?, _ key: UInt64, _ mask: Int32) {
        do {
            try fs.share.withNode(key) { fd in
                guard faccessat(fd, "", mask, AT_EMPTY_PATH) == 0 else { throw FSError(errno: errno) }
            }
            Self.reply(req, 0)
        } catch { Self.fail(req, error) }
    }

    /// With an open handle (fstat), its descriptor answers: the file may be unlinked already.
    func localGetattr(_ req: fuse_req_t?, _ key: UInt64, handle: Int32? = nil) {
        do {
            var raw = Glibc.stat()
            if let handle, fstat(handle, &raw) == 0 {
            } else {
                do { raw = try fs.share.stat(key) } catch {
                    guard let open = Self.openDescriptor(key), fstat(open, &raw) == 0 else { throw error }
                }
            }
            var st = localStat(key, raw)
            fuse_reply_attr(req, &st, Self.localTimeout)
        } catch { Self.fail(req, error) }
    }

    func localSetattr(_ req: fuse_req_t?, _ key: UInt64, _ attr: UnsafeMutablePointer<stat>, _ toSet: Int32, _ handle: Int32?) {
        do {
            try fs.share.withNode(key) { fd in try setAttributes(fd, attr, toSet, handle) }
        } catch {
            // Changes through an open handle still work on a file that is gone from its folder.
            guard let handle = handle ?? Self.openDescriptor(key),
                  (error as? FSError)?.errno == ESTALE || (error as? FSError)?.errno == ENOENT else { return Self.fail(req, error) }
            do { try setAttributes(nil, attr, toSet, handle) } catch { return Self.fail(req, error) }
        }
        localGetattr(req, key, handle: handle)
        fs.publisher.changed()
    }

    private func setAttributes(_ fd: Int32?, _ attr: UnsafeMutablePointer<stat>, _ toSet: Int32, _ handle: Int32?) throws {
        let proc = fd.map { "/proc/self/fd/\($0)" }
        var current = Glibc.stat()
        if let fd { guard fstatat(fd, "", &current, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 else { throw FSError(errno: errno) } }
        else if let handle { guard fstat(handle, &current) == 0 else { throw FSError(errno: errno) } }
        let isLink = current.st_mode & S_IFMT == S_IFLNK
        if toSet & SetAttr.mode != 0 {
            // A symbolic link has no mode of its own (chmod through the /proc link would change its target).
            let rc = isLink ? 0 : (handle.map { fchmod($0, attr.pointee.st_mode) } ?? chmod(proc!, attr.pointee.st_mode))
            guard rc == 0 else { throw FSError(errno: errno) }
        }
        if toSet & (SetAttr.uid | SetAttr.gid) != 0 {
            let uid = toSet & SetAttr.uid != 0 ? attr.pointee.st_uid : uid_t.max
            let gid = toSet & SetAttr.gid != 0 ? attr.pointee.st_gid : gid_t.max
            let rc = fd.map { fchownat($0, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) } ?? fchown(handle!, uid, gid)
            guard rc == 0 else { throw FSError(errno: errno) }
        }
        if toSet & SetAttr.size != 0 {
            let size = attr.pointee.st_size
            let rc = handle.map { ftruncate($0, size) } ?? truncate(proc!, size)
            guard rc == 0 else { throw FSError(errno: errno) }
        }
        if toSet & (SetAttr.atime | SetAttr.mtime) != 0 {
            var times = [timespec(tv_sec: 0, tv_nsec: Int(UTIME_OMIT)), timespec(tv_sec: 0, tv_nsec: Int(UTIME_OMIT))]
            if toSet & SetAttr.atime != 0 { times[0] = toSet & SetAttr.atimeNow != 0 ? timespec(tv_sec: 0, tv_nsec: Int(UTIME_NOW)) : attr.pointee.st_atim }
            if toSet & SetAttr.mtime != 0 { times[1] = toSet & SetAttr.mtimeNow != 0 ? timespec(tv_sec: 0, tv_nsec: Int(UTIME_NOW)) : attr.pointee.st_mtim }
            let rc: Int32
            if let handle { rc = futimens(handle, &times) }
            else if isLink { rc = 0 }  // times of a link itself: not reachable through its descriptor; the kernel keeps its own
            else { rc = utimensat(AT_FDCWD, proc!, &times, 0) }
            guard rc == 0 else { throw FSError(errno: errno) }
        }
    }

    // MARK: Files

    /// Open descriptors of me/ files: whether each may write, and its inode for the publisher.
    static let openFiles = Mutex<[Int32: (writer: Bool, device: UInt64, inode: UInt64, key: UInt64)]>([:])

    /// An open descriptor of a node, if any: `fstat` of a file that was unlinked while open
    /// arrives without its handle, and the file can no longer be found by name.
    static func openDescriptor(_ key: UInt64) -> Int32? {
        openFiles.withLock { files in files.first { $0.value.key == key }?.key }
    }

    func registerOpen(_ fd: Int32, flags: Int32, key: UInt64, stat known: Glibc.stat? = nil) -> UInt64 {
        let st = known ?? { var s = Glibc.stat(); fstat(fd, &s); return s }()
        let writer = flags & O_ACCMODE != O_RDONLY
        Self.openFiles.withLock { $0[fd] = (writer, UInt64(st.st_dev), UInt64(st.st_ino), key) }
        if writer { fs.publisher.writing(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), 1) }
        return ShareFolderInodes.localBit | UInt64(UInt32(bitPattern: fd))
    }

    func localOpen(_ req: fuse_req_t?, _ key: UInt64, _ fi: UnsafeMutablePointer<fuse_file_info>) {
        // O_NOFOLLOW would refuse the /proc link itself; the kernel resolved links already.
        let flags = fi.pointee.flags & ~O_NOFOLLOW & ~O_CREAT & ~O_EXCL
        let file: Int32
        do {
            file = try fs.share.withNode(key) { fd in
                let f = open("/proc/self/fd/\(fd)", flags | O_CLOEXEC)
                guard f >= 0 else { throw FSError(errno: errno) }
                return f
            }
        } catch { return Self.fail(req, error) }
        fi.pointee.fh = registerOpen(file, flags: flags, key: key)
        fi.pointee.keep_cache = 0
        replyOpen(fi, backing: acquireBacking(key, fd: file)) { fuse_reply_open(req, fi) }
    }

    func localCreate(_ req: fuse_req_t?, _ parent: UInt64, _ name: UnsafePointer<CChar>, _ mode: mode_t,
                     _ fi: UnsafeMutablePointer<fuse_file_info>) {
        guard let dir = fs.share.directoryFD(parent) else { return Self.reply(req, ENOENT) }
        let flags = (fi.pointee.flags | O_CREAT) & ~O_NOFOLLOW
        // Made new (O_EXCL) when it does not exist yet, so its mode can be set exactly as asked
        // (the node's own umask must not apply twice: a umask-0 program's 0666 file came out
        // 0644); an existing file is opened as it is.
        var created = true
        var file = openat(dir, name, flags | O_EXCL | O_CLOEXEC, mode)
        if file < 0 && errno == EEXIST && flags & O_EXCL == 0 {
            created = false
            file = openat(dir, name, (flags & ~O_CREAT) | O_CLOEXEC)
        }
        guard file >= 0 else { return Self.reply(req, errno) }
        if created && Self.umaskChanges(mode) { _ = fchmod(file, mode & 0o7777) }
        giveToCaller(req, dir: dir, name: name)
        // The open file's own status (never a folder: those cannot be opened with O_CREAT).
        var st = Glibc.stat()
        guard fstat(file, &st) == 0 else {
            let e = errno
            close(file)
            return Self.reply(req, e)
        }
        let key = fs.share.found(parent: parent, name: name, stat: st)
        fi.pointee.fh = registerOpen(file, flags: flags, key: key, stat: st)
        var e = fuse_entry_param()
        e.ino = ShareFolderInodes.localBit | key
        e.attr = localStat(key, st)
        e.attr_timeout = Self.localTimeout
        e.entry_timeout = Self.localTimeout
        replyOpen(fi, backing: acquireBacking(key, fd: file)) { fuse_reply_create(req, &e, fi) }
    }

    /// Whether what the node's umask does to a new file or folder made with `mode` (the
    /// caller's umask already applied) must be undone: it took bits the caller asked for, or
    /// the mode has setuid, setgid or sticky bits (which creation may drop).
    static func umaskChanges(_ mode: mode_t) -> Bool { mode & 0o7000 != 0 || mode & 0o777 & ProcessUmask.value != 0 }

    func localRead(_ req: fuse_req_t?, _ fd: Int32, _ size: Int, _ offset: off_t) {
        localDataRequests.add(1, ordering: .relaxed)
        _ = peernet_fuse_reply_fd(req, fd, offset, size)
    }

    func localWrite(_ req: fuse_req_t?, _ fd: Int32, _ buf: UnsafePointer<CChar>, _ size: Int, _ offset: off_t) {
        localDataRequests.add(1, ordering: .relaxed)
        var done = 0
        while done < size {
            let n = pwrite(fd, buf + done, size - done, offset + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                // The error of the first byte goes to the writer; after a partial write, its count.
                if done == 0 { return Self.reply(req, errno) }
                break
            }
            if n == 0 { break }
            done += n
        }
        fuse_reply_write(req, done)
    }

    /// close(2) of the caller: the error a close of the real file would give reaches it here
    /// (the kernel ignores what RELEASE answers).
    func localFlush(_ req: fuse_req_t?, _ fd: Int32) {
        let copy = dup(fd)
        guard copy >= 0 else { return Self.reply(req, errno) }
        Self.reply(req, close(copy) == 0 ? 0 : errno)
    }

    func localRelease(_ req: fuse_req_t?, _ fd: Int32) {
        let entry = Self.openFiles.withLock { $0.removeValue(forKey: fd) }
        releaseBacking(fd: fd)
        close(fd)
        if let entry, entry.writer { fs.publisher.writing(device: entry.device, inode: entry.inode, -1) }
        Self.reply(req, 0)
    }

    func localFsync(_ req: fuse_req_t?, _ fd: Int32, dataOnly: Bool) {
        Self.reply(req, (dataOnly ? fdatasync(fd) : fsync(fd)) == 0 ? 0 : errno)
    }

    func localFallocate(_ req: fuse_req_t?, _ fd: Int32, _ mode: Int32, _ offset: off_t, _ length: off_t) {
        Self.reply(req, peernet_fallocate(fd, mode, offset, length) == 0 ? 0 : errno)
    }

    func localLseek(_ req: fuse_req_t?, _ fd: Int32, _ offset: off_t, _ whence: Int32) {
        let r = lseek(fd, offset, whence)
        if r < 0 { return Self.reply(req, errno) }
        fuse_reply_lseek(req, r)
    }

    // MARK: Directories

    /// Listings of open me/ directories by handle: names as bytes (they need not be UTF-8).
    static let localListings = Mutex<[UInt64: [(name: [CChar], inode: UInt64, type: UInt8)]]>([:])

    /// Lists a me/ directory. With `plus` (READDIRPLUS) every entry comes with its attributes
    /// and counts as a lookup: `rm -r` and `ls -l` of a folder then need no LOOKUP round trip
    /// per file.
    func localReaddir(_ req: fuse_req_t?, _ key: UInt64, _ handle: UInt64, _ size: Int, _ offset: off_t, plus: Bool = false) {
        var entries = Self.localListings.withLock { $0[handle] }
        if entries == nil || offset == 0 {
            guard let fd = fs.share.directoryFD(key) else { return Self.reply(req, ENOTDIR) }
            let dirFD = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dirFD >= 0, let dir = fdopendir(dirFD) else {
                let e = errno
                if dirFD >= 0 { close(dirFD) }
                return Self.reply(req, e)
            }
            var list: [(name: [CChar], inode: UInt64, type: UInt8)] = []
            while let d = Glibc.readdir(dir) {
                let name = directoryEntryName(d).map { CChar(bitPattern: $0) } + [0]
                let isDot = name == [46, 0] || name == [46, 46, 0]
                let inode = isDot ? ShareFolderInodes.localBit | key : ShareFolderInodes.localBit | fs.share.key(device: fs.share.rootDevice, inode: UInt64(d.pointee.d_ino))
                list.append((name, inode, d.pointee.d_type))
            }
            closedir(dir)
            entries = list
            if handle != 0 { Self.localListings.withLock { $0[handle] = list } }
        }
        guard let entries else { return Self.reply(req, EIO) }
        var buffer = [CChar](repeating: 0, count: size)
        var used = 0
        var index = Int(offset)
        while index < entries.count {
            let e = entries[index]
            var st = Glibc.stat()
            st.st_ino = UInt(e.inode)
            st.st_mode = mode_t(e.type) << 12
            let needed: Int
            if plus {
                var entry = fuse_entry_param()
                entry.attr = st
                let isDot = e.name == [46, 0] || e.name == [46, 46, 0]
                var counted: UInt64? = nil
                if !isDot, let found = e.name.withUnsafeBufferPointer({ n in try? fs.share.lookup(parent: key, name: n.baseAddress!) }) {
                    entry.ino = ShareFolderInodes.localBit | found.key
                    entry.attr = localStat(found.key, found.stat)
                    entry.attr_timeout = Self.localTimeout
                    entry.entry_timeout = Self.localTimeout
                    counted = found.key
                }
                needed = buffer.withUnsafeMutableBufferPointer { b in
                    e.name.withUnsafeBufferPointer { n in fuse_add_direntry_plus(req, b.baseAddress! + used, size - used, n.baseAddress, &entry, off_t(index + 1)) }
                }
                // An entry that did not fit was not handed to the kernel: its lookup is undone.
                if needed > size - used, let counted { fs.share.forget(counted, 1) }
            } else {
                needed = buffer.withUnsafeMutableBufferPointer { b in
                    e.name.withUnsafeBufferPointer { n in fuse_add_direntry(req, b.baseAddress! + used, size - used, n.baseAddress, &st, off_t(index + 1)) }
                }
            }
            if needed > size - used { break }
            used += needed
            index += 1
        }
        buffer.withUnsafeBufferPointer { _ = fuse_reply_buf(req, $0.baseAddress, used) }
    }

    func localFsyncdir(_ req: fuse_req_t?, _ key: UInt64) {
        guard let fd = fs.share.directoryFD(key) else { return Self.reply(req, ENOTDIR) }
        let dirFD = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else { return Self.reply(req, errno) }
        defer { close(dirFD) }
        Self.reply(req, fsync(dirFD) == 0 ? 0 : errno)
    }

    // MARK: Extended attributes

    /// user.peernet.* of a me/ file: its publishing state, and hash and ID once published.
    func localPeernetAttributes(_ key: UInt64) -> [String: [UInt8]] {
        guard let st = try? fs.share.stat(key), let path = fs.share.relativePath(key) else { return [:] }
        let isDirectory = st.st_mode & S_IFMT == S_IFDIR
        guard isDirectory || st.st_mode & S_IFMT == S_IFREG else { return [:] }
        let state = fs.publisher.state(of: path, isDirectory: isDirectory, signature: isDirectory ? nil : FileSignature(st))
        var out = ["user.peernet.state": Array(state.description.utf8)]
        if state == .published, !isDirectory, let record = fs.publisher.record(of: path) {
            out["user.peernet.hash"] = Array(record.hash.hex.utf8)
            out["user.peernet.id"] = Array(record.id.uuidString.utf8)
        }
        return out
    }

    /// Extended attribute namespaces passed through in me/: user.* and trusted.* (root's).
    /// security.* and system.* (labels, ACLs) answer EOPNOTSUPP: ls then stops asking every
    /// file for them (see getxattr).
    static func passesThrough(_ name: String) -> Bool { name.hasPrefix("user.") || name.hasPrefix("trusted.") }

    /// Runs `body` with where a node's xattrs are reached: its /proc link, or for a symbolic
    /// link its path (the l*xattr calls act on the link itself; through /proc they would not).
    func withXattrTarget<T>(_ key: UInt64, _ body: (String, Bool) throws -> T) throws -> T {
        let st = try fs.share.stat(key)
        if st.st_mode & S_IFMT == S_IFLNK {
            guard let relative = fs.share.relativePath(key) else { throw FSError.notFound }
            return try body(fs.share.path + "/" + String(decoding: relative.bytes, as: UTF8.self), true)
        }
        return try fs.share.withNode(key) { fd in try body("/proc/self/fd/\(fd)", false) }
    }

    func localGetxattr(_ req: fuse_req_t?, _ key: UInt64, _ name: UnsafePointer<CChar>, _ size: Int) {
        let text = String(cString: name)
        if text == "security.capability" { capabilityProbes.add(1, ordering: .relaxed) }
        guard Self.passesThrough(text) else { return Self.reply(req, EOPNOTSUPP) }
        if text.hasPrefix("user.peernet.") {
            guard let value = localPeernetAttributes(key)[text] else { return Self.reply(req, ENODATA) }
            return Self.replyXattr(req, value, size)
        }
        var value = [UInt8](repeating: 0, count: max(size, 1))
        let n: Int
        do {
            n = try withXattrTarget(key) { path, link in
                let n = value.withUnsafeMutableBytes {
                    link ? lgetxattr(path, name, size == 0 ? nil : $0.baseAddress, size) : getxattr(path, name, size == 0 ? nil : $0.baseAddress, size)
                }
                guard n >= 0 else { throw FSError(errno: errno) }
                return n
            }
        } catch { return Self.fail(req, error) }
        if size == 0 { fuse_reply_xattr(req, n); return }
        value.withUnsafeBytes { _ = fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), n) }
    }

    func localListxattr(_ req: fuse_req_t?, _ key: UInt64, _ size: Int) {
        var list: [UInt8] = []
        try? withXattrTarget(key) { path, link in
            let n = link ? llistxattr(path, nil, 0) : listxattr(path, nil, 0)
            if n > 0 {
                var raw = [CChar](repeating: 0, count: n)
                let got = link ? llistxattr(path, &raw, n) : listxattr(path, &raw, n)
                if got > 0 {
                    // user.peernet.* stored on a file (by a bound me/'s publisher) is shown
                    // as computed below, once.
                    for name in raw.prefix(got).split(separator: 0) {
                        let text = String(decoding: name.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        guard Self.passesThrough(text), !text.hasPrefix("user.peernet.") else { continue }
                        list += name.map { UInt8(bitPattern: $0) } + [0]
                    }
                }
            }
        }
        for name in localPeernetAttributes(key).keys.sorted() { list += Array(name.utf8) + [0] }
        Self.replyXattr(req, list, size)
    }

    func localSetxattr(_ req: fuse_req_t?, _ key: UInt64, _ name: UnsafePointer<CChar>, _ value: UnsafePointer<CChar>?, _ size: Int, _ flags: Int32) {
        let text = String(cString: name)
        guard Self.passesThrough(text) else { return Self.reply(req, EOPNOTSUPP) }
        guard !text.hasPrefix("user.peernet.") else { return Self.reply(req, EPERM) }
        do {
            try withXattrTarget(key) { path, link in
                let rc = link ? lsetxattr(path, name, value, size, flags) : setxattr(path, name, value, size, flags)
                guard rc == 0 else { throw FSError(errno: errno) }
            }
            Self.reply(req, 0)
        } catch { Self.fail(req, error) }
    }

    func localRemovexattr(_ req: fuse_req_t?, _ key: UInt64, _ name: UnsafePointer<CChar>) {
        let text = String(cString: name)
        guard Self.passesThrough(text) else { return Self.reply(req, EOPNOTSUPP) }
        guard !text.hasPrefix("user.peernet.") else { return Self.reply(req, EPERM) }
        do {
            try withXattrTarget(key) { path, link in
                let rc = link ? lremovexattr(path, name) : removexattr(path, name)
                guard rc == 0 else { throw FSError(errno: errno) }
            }
            Self.reply(req, 0)
        } catch { Self.fail(req, error) }
    }

    static func replyXattr(_ req: fuse_req_t?, _ value: [UInt8], _ size: Int) {
        if size == 0 { fuse_reply_xattr(req, value.count); return }
        guard value.count <= size else { return reply(req, ERANGE) }
        value.withUnsafeBytes { _ = fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
    }
}
