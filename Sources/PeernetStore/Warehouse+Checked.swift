import Foundation
import PeernetProtocol
#if canImport(Glibc)
import Glibc
#endif

/// One version of a file's bytes, told apart without reading them: a write changes the size,
/// the modification time or at least the change time (which no program can set back).
public struct FileVersion: Equatable, Sendable {
    let device, inode, size: UInt64
    let mtimeNs, ctimeNs: Int64

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = UInt64(st.st_size)
        mtimeNs = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        ctimeNs = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(st)
    }
}

/// Content known to match its hash without reading it again. A holder hashes what it serves
/// (`ServedContentVerifier`, so it notices a damaged copy), which was 10 % of the CPU of a
/// fast-path transfer, both ends counted (perf, 1 GiB: the holder's check 9.9 %, the
/// reader's 10.8 %), for content hashed moments before at import.
///
/// Known good: content copied in at import (hashed on its way into the warehouse's own file),
/// a share-folder file its import hashed (see `importLinked`), and content a serve checked
/// from start to end; either while its file keeps the version it
/// had then, for `trustChecked` seconds at most, since a bit flipped on disk changes no
/// timestamp: the first serve after that checks it again. A file of the share folder is
/// only remembered when its change time was over 2 s old before the check began: a write in
/// the same clock tick could otherwise leave its version looking the same.
final class CheckedContent: @unchecked Sendable {
    static let trustChecked = 3600.0
    static let capacity = 65_536
    private let lock = NSLock()
    private var known: [Hash256: (version: FileVersion, at: Double)] = [:]

    func remember(_ hash: Hash256, _ version: FileVersion, settled: Bool = false) {
        let now = Date().timeIntervalSince1970
        if !settled, now - Double(version.ctimeNs) / 1e9 < 2 { return }
        lock.lock(); defer { lock.unlock() }
        if known.count >= Self.capacity { known.removeAll(keepingCapacity: true) }
        known[hash] = (version, now)
    }

    func isChecked(_ hash: Hash256, _ version: FileVersion) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard let k = known[hash] else { return false }
        return k.version == version && Date().timeIntervalSince1970 - k.at < Self.trustChecked
    }

    func forget(_ hash: Hash256) {
        lock.lock(); defer { lock.unlock() }
        known[hash] = nil
    }
}

extension Warehouse {
    /// The version of stored content's file now (for `isChecked` and `checkedWhole`).
    public func version(of hash: Hash256) -> FileVersion? {
        contentPath(hash).flatMap { FileVersion(path: $0) }
    }

    /// Whether `hash`, whose file has `version` now, is known to match its bytes (see
    /// `CheckedContent`).
    public func isChecked(_ hash: Hash256, version: FileVersion) -> Bool {
        checked.isChecked(hash, version)
    }

    /// A serve checked all of `hash`, whose file had `version` when the check began.
    public func checkedWhole(_ hash: Hash256, version: FileVersion) {
        checked.remember(hash, version)
    }
}
