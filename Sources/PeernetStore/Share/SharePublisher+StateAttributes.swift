import Foundation
import CLinuxCalls
import PeernetSupport
#if canImport(Glibc)
import Glibc
#endif
import Logging

private let shareLog = Logger.peernet("share")

/// `user.peernet.state` as a real extended attribute of each file, for when programs use the
/// share folder itself (me as a link to it, or bound onto the drive), where no drive answers
/// `getxattr` with the computed state. Written only when a file's state changes, never on
/// ignored files (temp, swap and journal files of programs at work are not touched), and on a
/// new file only once it is published or fails, or stays pending for twice the settle time
/// (held open, or still being written). Writing one changes the file's change time only; its
/// content, size and modification time stay.
extension SharePublisher {
    static let stateAttribute = "user.peernet.state"

    /// Whether passes keep `user.peernet.state` on the files (set while me/ is bound).
    public var writesStateAttributes: Bool {
        get { stateAttributesOn.load(ordering: .relaxed) }
        set {
            stateAttributesOn.store(newValue, ordering: .relaxed)
            if newValue { poke() }
        }
    }

    /// Brings every scanned file's attribute to its state; refreshes the recorded change time
    /// of published files it wrote (else the next pass would take the new change time for a
    /// change and look at the content again). `stillPending`: files pending for twice the
    /// settle time.
    func writeStateAttributes(_ files: [SharePath: ShareScanner.Found], stillPending: Set<SharePath>) {
        let (rows, failed, known) = state.withLock { ($0.rows, $0.failed, $0.attributes) }
        var now: [SharePath: String] = [:]
        var refreshed: [SharePath: ShareIndex.Row] = [:]
        for (path, found) in files {
            let wanted = Self.fileState(row: rows[path], failure: failed[path], signature: found.signature).description
            let full = absolute(path)
            // "" stands for none: a new file carries none until it is published or fails, or
            // has been pending for twice the settle time: a download under way, a file a
            // program holds open (writing "pending" onto every file of a 10,000-file copy, then
            // "published", doubled the writes and the passes they set off; such files settle
            // well before). A file that carried a state and changed is marked pending, so no
            // stale "published" stays on it.
            let current = known[path] ?? withCPath(full) { Self.readAttribute($0) } ?? ""
            guard current != wanted, !(current.isEmpty && wanted == "pending" && !stillPending.contains(path)) else { now[path] = current; continue }
            let rc = withCPath(full) { p in wanted.withCString { lsetxattr(p, Self.stateAttribute, $0, strlen($0), 0) } }
            if rc != 0 {
                if errno == ENOTSUP || errno == EOPNOTSUPP {
                    shareLog.warning("the share folder's file system keeps no user extended attributes; user.peernet.state is not shown (peernet status lists what is pending)")
                    stateAttributesOn.store(false, ordering: .relaxed)
                    return
                }
                continue
            }
            now[path] = wanted
            // Published content is served from the file through a link that names its change
            // time, which this write moved: the link follows (same inode, size and mtime).
            var st = stat()
            if wanted == "published", var row = rows[path], store.warehouse.relink(row.hash, to: full) || store.warehouse.contains(row.hash),
               withCPath(full, { lstat($0, &st) }) == 0, FileSignature(st) == row.signature {
                row.ctimeNs = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
                refreshed[path] = row
            }
        }
        if !refreshed.isEmpty {
            try? store.db.transaction { for (p, row) in refreshed { try index.put(p, row) } }
        }
        state.withLock { s in
            s.attributes = now
            for (p, row) in refreshed where s.rows[p]?.signature == row.signature { s.rows[p] = row }
        }
    }

    /// Marks a file being imported as published (on its open descriptor), and remembers it
    /// (else the pass's end wrote it a second time, and moved the change time again).
    func markPublished(_ fd: Int32, _ path: SharePath) {
        guard "published".withCString({ fsetxattr(fd, Self.stateAttribute, $0, strlen($0), 0) }) == 0 else { return }
        state.withLock { $0.attributes[path] = "published" }
    }

    private static func readAttribute(_ path: UnsafePointer<CChar>) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { lgetxattr(path, stateAttribute, $0.baseAddress, $0.count) }
        return n >= 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : nil
    }
}
