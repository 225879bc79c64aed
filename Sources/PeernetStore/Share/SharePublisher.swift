import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Logging

private let shareLog = Logger.peernet("share")

/// Publishes the share folder: a real local folder is the truth, and the blockchain follows it
/// in the background (rclone's write-back cache and Syncthing's folder model).
///
/// - A file is published once it has been closed and unchanged for the settle time
///   (`PublishDelay`, 2 s): programs save through temp files, renames and journals, and only
///   the result of a save should ever leave the machine.
/// - Every change of one pass goes into one chain update: one block for what is added, one
///   rewrite (version + 1) when anything is removed, renamed or replaced.
/// - A rename (also of a folder of 10,000 files) is recognised by inode, size and time and
///   updates records without reading the content; unchanged content (touch, chmod, the same
///   bytes written again) changes nothing on the chain.
/// - Deleting, or moving into an ignored place (`.Trash-1000/`), unpublishes.
///
/// The drive, `peernet share/unshare` and the daemon all publish through this one type. It
/// learns of changes from inotify, from the drive's handles (which also say which files are
/// still open for writing), and from a periodic scan.
public final class SharePublisher: @unchecked Sendable {
    /// Tunables (README "Configuration").
    public struct Options: Sendable {
        /// Seconds a file must stay closed and unchanged before it is published.
        public var settle: Double = 2
        /// Full scans this often even without events (a safety net for lost events).
        public var rescanInterval: Double = 60
        /// Watch the folder with inotify.
        public var watch = true
        public init() {}
    }

    /// A file's publishing state, as `user.peernet.state` shows it.
    public enum FileState: Equatable, Sendable, CustomStringConvertible {
        case pending, published, ignored, failed(String)
        public var description: String {
            switch self {
            case .pending: return "pending"
            case .published: return "published"
            case .ignored: return "ignored"
            case .failed(let why): return "failed: \(why)"
            }
        }
    }

    /// What one pass changed on the chain (for the search index and announcements).
    public struct Change: Sendable {
        public var published: [FileRecord] = []
        public var withdrawn: [FileRecord] = []
        public var isEmpty: Bool { published.isEmpty && withdrawn.isEmpty }
    }

    /// Figures of the last pass.
    public struct PassSummary: Sendable, Equatable {
        public var added = 0, replaced = 0, renamed = 0, removed = 0, unchanged = 0
        public var pending = 0, failed = 0
        /// Settled files left pending because a program still has them open for writing.
        public var heldOpen = 0
        public var chainChanged: Bool { added + replaced + renamed + removed > 0 }
    }

    /// Changes must stop this long before a pass starts (bounded by the settle time).
    static let quietPeriod = 0.2

    public let folder: URL
    public let options: Options
    public let store: LocalStore
    let index: ShareIndex
    let root: [UInt8]
    let scanner: ShareScanner

    struct State {
        var rows: [SharePath: ShareIndex.Row] = [:]
        /// Empty folders published as virtual folder records.
        var folders: [SharePath: TransferID] = [:]
        /// The pending files, and since when each has been pending (kept while it stays so).
        var pendingSince: [SharePath: Double] = [:]
        var failed: [SharePath: String] = [:]
        /// How long the last pass's walk of the folder took (its imports not counted).
        var lastScanSeconds = 0.0
        /// Signature and when it was first seen, for files whose times lie in the future.
        var firstSeen: [SharePath: (FileSignature, Double)] = [:]
        /// Open writable handles per (device, inode), from the drive.
        var writers: [FileKey: Int] = [:]
        var ignore = ShareIgnore.defaults
        /// Descriptions for files `share` or the web API is about to publish or change.
        var descriptions: [SharePath: String] = [:]
        /// Record IDs asked for by the web API (`/blockchain/file/add` and `update` name them).
        var requestedIDs: [SharePath: TransferID] = [:]
        var dirty = true
        /// When the last change was reported (monotonic), to let a burst end before a pass.
        var lastPoke = 0.0
        var stopped = false
        var nextWake: Double? = nil
        /// Passes started, and the start number of the last pass that finished.
        var starts = 0
        var lastFinishedStart = 0
        var lastSummary = PassSummary()
        /// The `user.peernet.state` value on each file, where the publisher writes them.
        var attributes: [SharePath: String] = [:]
    }

    struct FileKey: Hashable { let device: UInt64; let inode: UInt64 }

    let state = Mutex(State())
    private let wakeup = NSCondition()
    private let passLock = NSLock()
    private var thread: Thread?
    private var watcher: FolderWatcher?
    private let observers = Mutex<[@Sendable (Change) -> Void]>([])
    let stateAttributesOn = Atomic(false)

    /// Opens (creating it if needed) the share folder. On the first start with a folder, files
    /// the chain already shares are written into it, so the folder shows everything published.
    public init(store: LocalStore, folder: URL, options: Options = Options()) throws {
        self.store = store
        self.folder = folder.standardizedFileURL
        self.options = options
        root = Array(self.folder.path.utf8)
        scanner = ShareScanner(root: root)
        index = try ShareIndex(db: store.db)
        try FileManager.default.createDirectory(at: self.folder, withIntermediateDirectories: true)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: self.folder.path, isDirectory: &isDir), isDir.boolValue else {
            throw WarehouseError.io(self.folder.path, "the share folder is not a directory")
        }
        try migrateExistingShares()
        let rows = try index.all()
        let folders = try index.folders()
        state.withLock { $0.rows = rows; $0.folders = folders }
    }

    /// Called after every pass that changed the chain.
    public func observe(_ observer: @escaping @Sendable (Change) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    // MARK: Running

    /// Starts watching and publishing in the background (a thread of its own: hashing and file
    /// I/O never hold the Swift pool).
    public func start() {
        if options.watch { watcher = FolderWatcher { [weak self] in self?.poke() } }
        watcher?.start()
        let t = Thread { [self] in run() }
        t.name = "peernet-publish"
        thread = t
        t.start()
    }

    public func stop() {
        watcher?.stop()
        wakeup.lock()
        state.withLock { $0.stopped = true }
        wakeup.signal()
        wakeup.unlock()
        // A pass in progress finishes (its chain update is one transaction either way).
        passLock.lock()
        passLock.unlock()
    }

    /// The drive changed something in the folder: the watcher reports it anyway, so this only
    /// pokes when there is no watcher.
    public func changed() {
        if watcher == nil { poke() }
    }

    /// Something changed in the folder: a pass runs soon.
    public func poke() {
        wakeup.lock()
        state.withLock { $0.dirty = true; $0.lastPoke = monotonicNow() }
        wakeup.signal()
        wakeup.unlock()
    }

    private func run() {
        var lastScan = monotonicNow()
        while true {
            wakeup.lock()
            while true {
                let (stopped, dirty, wake) = state.withLock { ($0.stopped, $0.dirty, $0.nextWake) }
                if stopped { wakeup.unlock(); return }
                let now = monotonicNow()
                if dirty || (wake.map { $0 <= now } ?? false) || now - lastScan >= options.rescanInterval { break }
                let until = min(wake ?? .infinity, lastScan + options.rescanInterval)
                _ = wakeup.wait(until: Date(timeIntervalSinceNow: max(0.01, min(until - now, 5))))
            }
            wakeup.unlock()
            // Let a burst of events (cp -r, rm -r, a save) end first, so it is one pass and the
            // scans do not take the CPU the burst needs: until changes stop for a moment, at
            // most the settle time (nothing in a burst can settle before it ends anyway).
            let burst = monotonicNow()
            while !state.withLock({ $0.stopped }) {
                Thread.sleep(forTimeInterval: Self.quietPeriod)
                let last = state.withLock { $0.lastPoke }
                if monotonicNow() - last >= Self.quietPeriod || monotonicNow() - burst >= max(options.settle, 1) { break }
            }
            state.withLock { $0.dirty = false }
            lastScan = monotonicNow()
            pass()  // returns at once if stop() came during the wait above
            // A pass over a large folder is not repeated back to back: the next one waits as
            // long as this one's walk of the folder took. Its imports do not count: a copy of
            // 10,000 files that a pass had partly imported (those settled when it looked) waited
            // as long again as that import took before the rest went in (2.1 s more of the
            // 6.9 s from the copy's end to published, when me is a link).
            let took = state.withLock { $0.lastScanSeconds }
            if took > 0.05 { Thread.sleep(forTimeInterval: min(took, 5)) }
        }
    }

    /// The drive opened (+1) or closed (-1) a writable handle of a file: open files are never
    /// published half-written, however long the writer pauses.
    public func writing(device: UInt64, inode: UInt64, _ delta: Int) {
        let key = FileKey(device: device, inode: inode)
        state.withLock { s in
            let n = (s.writers[key] ?? 0) + delta
            s.writers[key] = n > 0 ? n : nil
        }
        if delta < 0 { poke() }
    }

    // MARK: State

    /// The publishing state of a path of the folder (`stat` of it given, when known).
    public func state(of path: SharePath, isDirectory: Bool, signature: FileSignature?) -> FileState {
        state.withLock { s in
            if s.ignore.isIgnored(path.textComponents, isDirectory: isDirectory) { return .ignored }
            if isDirectory { return .published }
            return Self.fileState(row: s.rows[path], failure: s.failed[path], signature: signature)
        }
    }

    /// A file's state from its row and failure (the one rule for the drive's computed state
    /// and the attribute written onto files of a bound me/).
    static func fileState(row: ShareIndex.Row?, failure: String?, signature: FileSignature?) -> FileState {
        if let failure { return .failed(failure) }
        if let row, signature == nil || row.signature == signature { return .published }
        return .pending
    }

    /// The published record of a path, if it is published as it is now.
    public func record(of path: SharePath) -> (hash: Hash256, id: TransferID)? {
        state.withLock { s in s.rows[path].map { ($0.hash, $0.id) } }
    }

    /// Files waiting to be published and files that failed, with the reason.
    public func backlog() -> (pending: [SharePath], failed: [(SharePath, String)]) {
        state.withLock { s in (s.pendingSince.keys.sorted(), s.failed.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }) }
    }

    public var lastSummary: PassSummary { state.withLock { $0.lastSummary } }

    /// Waits (bounded) until a pass that started after this call has finished with nothing
    /// pending. For the CLI and tests.
    public func waitUntilSettled(timeout: Double) -> Bool {
        let deadline = monotonicNow() + timeout
        let startsBefore = state.withLock { $0.starts }
        poke()
        while monotonicNow() < deadline {
            let (finishedStart, pending) = state.withLock { ($0.lastFinishedStart, $0.pendingSince.count) }
            if finishedStart > startsBefore && pending == 0 { return true }
            if finishedStart > startsBefore { poke() }
            usleep(20_000)
        }
        return false
    }

    // MARK: The pass

    struct Candidate {
        let path: SharePath
        let found: ShareScanner.Found
        let row: ShareIndex.Row?
    }

    /// Reconciles the folder with the chain once. Paths in `settled` are published even if they
    /// changed a moment ago (`peernet share` has just copied them and closed them).
    @discardableResult
    public func pass(settled forced: Set<SharePath> = []) -> PassSummary {
        passLock.lock()
        defer { passLock.unlock() }
        // None after stop(): the burst wait above ended on stop and went on to pass, which
        // then imported into a store being closed (a test's data folder, removed by then,
        // came back with a warehouse folder in it).
        guard !state.withLock({ $0.stopped }) else { return PassSummary() }
        let startNumber = state.withLock { s -> Int in s.starts += 1; return s.starts }
        let checkContent = startNumber == 1
        let scanStart = monotonicNow()
        let scan = scanner.scan(onDirectory: { [watcher] in watcher?.watch($0) })
        let scanSeconds = monotonicNow() - scanStart
        shareLog.debug("pass \(startNumber): \(scan.files.count) files scanned in \(Int(scanSeconds * 1000)) ms")
        if scan.truncated {
            shareLog.warning("the share folder is deeper than \(ShareScanner.maxDepth) levels or has more than \(ShareScanner.maxEntries) entries; only that much is published")
        }
        let (rows, writers, firstSeen, descriptions, requestedIDs, pendingSinceBefore) = state.withLock {
            ($0.rows, $0.writers, $0.firstSeen, $0.descriptions, $0.requestedIDs, $0.pendingSince)
        }
        let nowNs = Int64(Date().timeIntervalSince1970 * 1e9)
        let mono = monotonicNow()

        var summary = PassSummary()
        var vanished = Set(rows.keys).subtracting(scan.files.keys)
        var vanishedByInode: [FileKey: SharePath] = [:]
        for p in vanished { let s = rows[p]!.signature; vanishedByInode[FileKey(device: s.device, inode: s.inode)] = p }

        var candidates: [Candidate] = []
        var ctimeUpdates: [SharePath: Int64] = [:]
        var renames: [(from: SharePath, to: SharePath, row: ShareIndex.Row)] = []
        for (path, found) in scan.files.sorted(by: { $0.key < $1.key }) {
            let key = FileKey(device: found.signature.device, inode: found.signature.inode)
            if let row = rows[path] {
                if row.signature == found.signature {
                    // Unchanged, unless its content went: asked at the first pass after a start
                    // (a link lost in a crash, a warehouse cleared by hand) and when only the
                    // change time moved (chmod, or an in-place rewrite that put the old mtime
                    // back, rsync --inplace -t). Stored content is still good; a link that no
                    // longer matches means hashing the file again.
                    let ask = checkContent || row.ctimeNs != found.ctimeNs
                    if ask && !store.warehouse.contains(row.hash) {
                        candidates.append(Candidate(path: path, found: found, row: row))
                    } else {
                        summary.unchanged += 1
                        if row.ctimeNs != found.ctimeNs { ctimeUpdates[path] = found.ctimeNs }
                    }
                    continue
                }
                candidates.append(Candidate(path: path, found: found, row: row))
            } else if let old = vanishedByInode[key], let row = rows[old], row.signature == found.signature {
                renames.append((old, path, row))
                vanished.remove(old)
                vanishedByInode[key] = nil
            } else {
                candidates.append(Candidate(path: path, found: found, row: nil))
            }
        }

        // Settle, then hash what has settled.
        var pending = Set<SharePath>()
        var failed: [SharePath: String] = [:]
        var newFirstSeen: [SharePath: (FileSignature, Double)] = [:]
        var wake: Double? = nil
        // With each import, the change time its link recorded.
        var imported: [(Candidate, Warehouse.Imported, ctimeNs: Int64)] = []
        var openElsewhere: [UInt64: Set<OpenWriters.Key>] = [:]  // per device, looked up once when something is ready
        for c in candidates {
            let key = FileKey(device: c.found.signature.device, inode: c.found.signature.inode)
            let seen = firstSeen[c.path].flatMap { $0.0 == c.found.signature ? $0.1 : nil } ?? mono
            let quietFor = max(Double(nowNs - c.found.changedNs) / 1e9, mono - seen)
            var held = false
            var isSettled = forced.contains(c.path) || (writers[key] == nil && quietFor >= options.settle)
            if isSettled && !forced.contains(c.path) {
                // Open for writing by a program working in the folder directly: not yet.
                let device = c.found.signature.device
                if openElsewhere[device] == nil { openElsewhere[device] = OpenWriters.scan(device: device) }
                if openElsewhere[device]!.contains(key) {
                    isSettled = false
                    held = true
                    summary.heldOpen += 1
                }
            }
            guard isSettled else {
                pending.insert(c.path)
                newFirstSeen[c.path] = (c.found.signature, seen)
                // A file held open is looked at again after the settle time (the close itself
                // also wakes us: inotify's IN_CLOSE_WRITE).
                let due = writers[key] == nil && !held ? mono + max(0.05, options.settle - quietFor) : mono + options.settle
                wake = min(wake ?? due, due)
                continue
            }
            do {
                guard let (result, ctime) = try importStable(c) else {
                    // Changed while it was read: try again once it is quiet.
                    pending.insert(c.path)
                    newFirstSeen[c.path] = (c.found.signature, mono)
                    wake = min(wake ?? mono + options.settle, mono + options.settle)
                    continue
                }
                imported.append((c, result, ctime))
            } catch WarehouseError.changed {
                pending.insert(c.path)
                newFirstSeen[c.path] = (c.found.signature, mono)
                wake = min(wake ?? mono + options.settle, mono + options.settle)
            } catch {
                failed[c.path] = "\(error)"
            }
        }

        // One chain update for everything.
        var remove = Set<TransferID>()
        var add: [FileRecord] = []
        var change = Change()
        var newRows = rows
        for (p, ctime) in ctimeUpdates { newRows[p]?.ctimeNs = ctime }
        for p in vanished {
            let row = rows[p]!
            remove.insert(row.id)
            if let old = try? store.chain.file(id: row.id) { change.withdrawn.append(old) }
            newRows[p] = nil
            summary.removed += 1
        }
        for r in renames {
            newRows[r.from] = nil
            var moved = r.row
            // Linked content follows the file (a rename changes the change time and the path
            // the link names). If it cannot, the old change time stays so the next pass asks
            // whether the content is still there.
            if store.warehouse.relink(r.row.hash, to: absolute(r.to)) || store.warehouse.contains(r.row.hash) {
                moved.ctimeNs = scan.files[r.to]?.ctimeNs ?? moved.ctimeNs
            }
            newRows[r.to] = moved
            guard let old = try? store.chain.file(id: r.row.id) else { continue }
            var record = old
            record.tags.removeAll { $0.type == FileTag.name || $0.type == FileTag.folder || $0.isVirtual }
            record.tags.insert(FileTag(type: FileTag.name, text: r.to.name), at: 0)
            if !r.to.folder.isEmpty { record.tags.insert(FileTag(type: FileTag.folder, text: r.to.folder), at: 1) }
            let (type, format) = FileTypeDetection.detect(name: r.to.name)
            record.type = type
            record.format = format
            if let text = descriptions[r.to], text != moved.description {
                record.setDescription(text)
                moved.description = text
                newRows[r.to] = moved
            }
            remove.insert(old.id)
            add.append(record)
            change.withdrawn.append(old)
            summary.renamed += 1
        }
        // IDs in use, built only when a requested ID must be checked (the web API's add) and
        // kept up to date as rows are placed. It was rebuilt for every imported file: a pass
        // over 100,000 new files spent minutes building sets (perf: Set.init from the rows).
        var taken: Set<TransferID>?
        func place(_ row: ShareIndex.Row, at path: SharePath) {
            if taken != nil {
                if let previous = newRows[path] { taken!.remove(previous.id) }
                taken!.insert(row.id)
            }
            newRows[path] = row
        }
        for (c, result, ctime) in imported {
            let description = descriptions[c.path] ?? c.row?.description ?? ""
            let asked = requestedIDs[c.path].flatMap { id -> TransferID? in
                if taken == nil { taken = Set(newRows.values.map(\.id)) }
                return taken!.contains(id) ? nil : id
            }
            var row = ShareIndex.Row(signature: c.found.signature, hash: result.hash, id: c.row?.id ?? asked ?? .random(), description: description,
                                     ctimeNs: ctime)
            if let old = c.row, old.hash == result.hash, old.description == description, (try? store.chain.file(id: old.id)) != nil {
                // touch, or the same bytes written again: the chain stays as it is.
                row.id = old.id
                place(row, at: c.path)
                summary.unchanged += 1
                continue
            }
            if let old = c.row {
                remove.insert(old.id)
                if let record = try? store.chain.file(id: old.id) { change.withdrawn.append(record) }
                summary.replaced += 1
            } else {
                summary.added += 1
            }
            add.append(record(for: c.path, result, id: row.id, modifiedNs: c.found.signature.modifiedNs, description: description))
            place(row, at: c.path)
        }
        // A new description for a file whose content and place stay (the web API's update).
        let handled = Set(imported.map(\.0.path) + renames.map(\.to))
        var described: [SharePath] = []
        for (path, text) in descriptions where !handled.contains(path) {
            guard var row = newRows[path], !pending.contains(path) else { continue }
            described.append(path)
            guard row.description != text, let old = try? store.chain.file(id: row.id) else { continue }
            var record = old
            record.setDescription(text)
            remove.insert(old.id)
            add.append(record)
            change.withdrawn.append(old)
            row.description = text
            newRows[path] = row
            summary.replaced += 1
        }
        // Empty folders (mkdir) are published as virtual folder records, as the reference's
        // clients do; a folder with files needs none (the files' folder tags make it).
        let publishedFolders = state.withLock { $0.folders }
        var wantedFolders = Set<SharePath>()
        let occupied = Set(scan.files.keys.flatMap { p -> [SharePath] in
            var parents: [SharePath] = []
            var current = p.parent
            while !current.bytes.isEmpty { parents.append(current); current = current.parent }
            return parents
        } + scan.directories.map(\.parent))
        for dir in scan.directories where !occupied.contains(dir) { wantedFolders.insert(dir) }
        var newFolders = publishedFolders
        for (path, id) in publishedFolders where !wantedFolders.contains(path) {
            remove.insert(id)
            if let old = try? store.chain.file(id: id) { change.withdrawn.append(old) }
            newFolders[path] = nil
        }
        let empty = Hash256.blake3([UInt8]())
        for path in wantedFolders.sorted() where publishedFolders[path] == nil {
            var tags = [FileTag(type: FileTag.name, text: path.name)]
            if !path.folder.isEmpty { tags.append(FileTag(type: FileTag.folder, text: path.folder)) }
            let record = FileRecord(hash: empty, id: .random(), merkleRoot: empty, fragmentSize: 262_144, type: 9, format: 16, size: 0, tags: tags)
            add.append(record)
            newFolders[path] = record.id
        }

        removeLeftovers(scan.leftovers)
        if !add.isEmpty || !remove.isEmpty { CrashPoint.hit("share-before-record") }
        do {
            try store.db.transaction {
                try store.chain.update(removing: remove, adding: add)
                // Only a pass that changed the chain can have grown it: the check decodes and
                // packs the whole chain, and passes that publish nothing (ignored temp files,
                // touch) ran it every time.
                if !add.isEmpty || !remove.isEmpty { try store.chain.compactIfNeeded() }
                for p in Set(rows.keys).union(newRows.keys) where rows[p] != newRows[p] {
                    if let row = newRows[p] { try index.put(p, row) } else { try index.remove(p) }
                }
                for p in Set(publishedFolders.keys).union(newFolders.keys) where publishedFolders[p] != newFolders[p] {
                    if let id = newFolders[p] { try index.putFolder(p, id) } else { try index.removeFolder(p) }
                }
            }
        } catch {
            shareLog.error("publishing \(add.count) and withdrawing \(remove.count) files failed: \(error)")
            for c in candidates where failed[c.path] == nil && !pending.contains(c.path) { failed[c.path] = "\(error)" }
            newRows = rows
            newFolders = publishedFolders
            add = []
            change = Change()
            wake = min(wake ?? mono + 30, mono + 30)
        }
        // Content still published under another name, whose link named the file that went:
        // the link moves to the copy that remains (else it would no longer be served).
        for w in change.withdrawn where !store.warehouse.contains(w.hash) {
            guard let (p, row) = newRows.first(where: { $0.value.hash == w.hash }), scan.files[p]?.signature == row.signature else { continue }
            store.warehouse.linkCopy(w.hash, at: absolute(p))
        }
        if !remove.isEmpty {
            // Content no record refers to any more leaves the warehouse.
            let still = (try? store.catalog.hashes(owner: store.chain.owner)) ?? []
            for w in change.withdrawn where !still.contains(w.hash) { store.warehouse.delete(w.hash) }
        }
        change.published = add.compactMap { try? store.chain.file(id: $0.id) }
        summary.pending = pending.count
        summary.failed = failed.count
        var pendingSince: [SharePath: Double] = [:]
        for p in pending { pendingSince[p] = pendingSinceBefore[p] ?? mono }
        let previousFailures = state.withLock { s -> [SharePath: String] in
            let before = s.failed
            s.rows = newRows
            s.folders = newFolders
            s.failed = failed
            s.firstSeen = newFirstSeen
            for p in imported.map(\.0.path) + renames.map(\.to) + described {
                s.descriptions[p] = nil
                s.requestedIDs[p] = nil
            }
            s.ignore = scan.ignore
            s.nextWake = wake
            s.lastScanSeconds = scanSeconds
            s.pendingSince = pendingSince
            s.lastFinishedStart = startNumber
            s.lastSummary = summary
            return before
        }
        for (p, why) in failed where previousFailures[p] != why {
            shareLog.warning("cannot publish \(p): \(why)")
        }
        if writesStateAttributes {
            // Pending for twice the settle time: held open or still being written. (Pending at
            // two passes was not enough: passes come as often as a copy's events allow, and
            // the first third of a 10,000-file copy got "pending" and then "published".)
            let lingering = max(options.settle, 0.5) * 2
            writeStateAttributes(scan.files, stillPending: Set(pendingSince.filter { mono - $0.value >= lingering }.keys))
        }
        if summary.chainChanged || newFolders != publishedFolders {
            shareLog.info("published \(summary.added) new, \(summary.replaced) changed, \(summary.renamed) renamed, withdrew \(summary.removed); \(pending.count) pending")
            for o in observers.withLock({ $0 }) { o(change) }
        }
        return summary
    }

    /// Deletes temp files of `peernet share` copies whose process is gone (killed mid-copy).
    private func removeLeftovers(_ paths: [SharePath]) {
        for p in paths {
            let parts = p.name.split(separator: "-")   // .peernet, share, <pid>, <n>
            guard parts.count == 4, let pid = Int32(parts[2]), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = withCPath(absolute(p)) { Glibc.unlink($0) }
        }
    }

    /// Hashes a file into the warehouse, or nil if it changed while it was read.
    private func importStable(_ c: Candidate) throws -> (Warehouse.Imported, ctimeNs: Int64)? {
        let full = absolute(c.path)
        let fd = withCPath(full) { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw WarehouseError.io(c.path.description, String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0, FileSignature(before) == c.found.signature else { return nil }
        // The state goes on the file before the warehouse records the link, whose signature
        // includes the change time that writing it moves (SharePublisher+StateAttributes).
        if writesStateAttributes { markPublished(fd, c.path) }
        // Stored once: the warehouse links to the file instead of copying it (paths that are
        // not UTF-8 are copied: the link is read back as text).
        let result = String(validating: full, as: UTF8.self) != nil
            ? try store.warehouse.importLinked(descriptor: fd, path: full, label: c.path.description)
            : try store.warehouse.importFile(descriptor: fd, label: c.path.description)
        var after = stat()
        guard fstat(fd, &after) == 0, FileSignature(after) == c.found.signature, result.size == c.found.signature.size else { return nil }
        // The change time the link recorded: writing the state attribute above moved it, and
        // a row keeping the scan's made the next pass look at every file's content again.
        return (result, Int64(after.st_ctim.tv_sec) * 1_000_000_000 + Int64(after.st_ctim.tv_nsec))
    }

    private func record(for path: SharePath, _ imported: Warehouse.Imported, id: TransferID, modifiedNs: Int64, description: String) -> FileRecord {
        let name = path.name
        let (type, format) = FileTypeDetection.detect(name: name)
        var tags = [FileTag(type: FileTag.name, text: name)]
        if !path.folder.isEmpty { tags.append(FileTag(type: FileTag.folder, text: path.folder)) }
        if !description.isEmpty { tags.append(FileTag(type: FileTag.description, text: description)) }
        if modifiedNs > 0 { tags.append(FileTag(type: FileTag.dateCreated, date: modifiedNs / 1_000_000_000)) }
        return FileRecord(hash: imported.hash, id: id, merkleRoot: imported.merkle.root, fragmentSize: imported.merkle.fragmentSize,
                          type: type, format: format, size: imported.size, tags: tags)
    }

    /// A folder path as bytes for the file calls (names need not be UTF-8).
    func absolute(_ path: SharePath) -> [UInt8] {
        path.bytes.isEmpty ? root : root + [UInt8(ascii: "/")] + path.bytes
    }

    // MARK: share / unshare

    /// Copies files into the share folder (under `folder`, keeping their names unless `name`
    /// is given) and publishes them at once. Returns their records.
    public func share(paths: [String], folder: String, name: String?, description: String,
                      progress: ((UInt64, UInt64) -> Void)? = nil) throws -> [FileRecord] {
        var targets: [SharePath] = []
        let dir = SharePath(folder.split(separator: "/").filter { $0 != "." && $0 != ".." && !$0.isEmpty }.joined(separator: "/"))
        if !dir.bytes.isEmpty {
            try FileManager.default.createDirectory(atPath: String(decoding: absolute(dir), as: UTF8.self),
                                                    withIntermediateDirectories: true)
        }
        for source in paths {
            var fileName = name.flatMap { paths.count == 1 ? $0 : nil } ?? (source == "-" ? "stdin" : (source as NSString).lastPathComponent)
            fileName = fileName.replacingOccurrences(of: "/", with: "_")
            if fileName.isEmpty || fileName == "." || fileName == ".." { fileName = "file" }
            // The same content already there (a share repeated after an interruption): reused.
            if sameContent(source, absolute(dir.appending(Array(fileName.utf8)))) {
                targets.append(dir.appending(Array(fileName.utf8)))
                continue
            }
            let target = freeName(in: dir, fileName)
            try copyIn(source, to: target, progress: progress)
            targets.append(target)
        }
        if !description.isEmpty {
            // The description travels with the row, set before the pass that publishes.
            state.withLock { s in for t in targets { s.descriptions[t] = description } }
        }
        pass(settled: Set(targets))
        let failures = state.withLock { s in targets.compactMap { t in s.failed[t].map { "\(t): \($0)" } } }
        if let first = failures.first { throw WarehouseError.io("share", first) }
        return try targets.compactMap { t in try state.withLock({ $0.rows[t]?.id }).flatMap { try store.chain.file(id: $0) } }
    }

    /// Removes shared files (by record ID) from the share folder, which unpublishes them.
    /// Records that have no file in the folder are removed from the chain directly.
    public func unshare(ids: Set<TransferID>) throws -> [FileRecord] {
        let records = try ids.compactMap { try store.chain.file(id: $0) }
        let rows = state.withLock { $0.rows }
        var direct = ids
        for (path, row) in rows where ids.contains(row.id) {
            let full = String(decoding: absolute(path), as: UTF8.self)
            if withCPath(absolute(path), { Glibc.unlink($0) }) != 0 && errno != ENOENT {
                throw WarehouseError.io(full, String(cString: strerror(errno)))
            }
            // Folders the unshare leaves empty go too (else each would be published as an
            // empty folder); rmdir leaves any folder that still holds something.
            removeEmptyParents(of: path)
            direct.remove(row.id)
        }
        pass()
        if !direct.isEmpty { try store.unshare(ids: direct) }
        return records
    }

    /// Whether `source` is a regular file with exactly the bytes of the file at `target`.
    func sameContent(_ source: String, _ target: [UInt8]) -> Bool {
        guard source != "-" else { return false }
        var a = stat(), b = stat()
        guard stat(source, &a) == 0, withCPath(target, { lstat($0, &b) }) == 0, a.st_mode & S_IFMT == S_IFREG,
              b.st_mode & S_IFMT == S_IFREG, a.st_size == b.st_size else { return false }
        let fa = open(source, O_RDONLY | O_CLOEXEC), fb = withCPath(target) { open($0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        defer { if fa >= 0 { close(fa) }; if fb >= 0 { close(fb) } }
        guard fa >= 0, fb >= 0 else { return false }
        var x = [UInt8](repeating: 0, count: 1 << 20), y = x
        while true {
            let n = x.withUnsafeMutableBytes { read(fa, $0.baseAddress, $0.count) }
            let m = y.withUnsafeMutableBytes { read(fb, $0.baseAddress, n > 0 ? n : 1) }
            if n <= 0 || m <= 0 { return n == 0 && m == 0 }
            if n != m || x[..<n] != y[..<m] { return false }
        }
    }

    /// Copies a file (or standard input for "-") into the folder through a hidden temp name
    /// (ignored, so never published half-way), fsynced, then renamed into place.
    func copyIn(_ source: String, to target: SharePath, progress: ((UInt64, UInt64) -> Void)?) throws {
        let input = source == "-" ? dup(0) : open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw WarehouseError.io(source, String(cString: strerror(errno))) }
        defer { close(input) }
        var st = stat()
        guard fstat(input, &st) == 0 else { throw WarehouseError.io(source, String(cString: strerror(errno))) }
        let type = st.st_mode & S_IFMT
        if type == S_IFDIR { throw WarehouseError.io(source, "is a directory") }
        guard type == S_IFREG || source == "-" else { throw WarehouseError.io(source, "is not a regular file") }
        let parent = target.parent
        let tempName = ".peernet-share-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let temp = parent.appending(Array(tempName.utf8))
        let tempFull = absolute(temp)
        let out = withCPath(tempFull) { open($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        guard out >= 0 else { throw WarehouseError.io(target.description, String(cString: strerror(errno))) }
        var ok = false
        defer {
            close(out)
            if !ok { _ = withCPath(tempFull) { Glibc.unlink($0) } }
        }
        if type == S_IFREG {
            // Room for what the file really occupies (a sparse file's holes cost nothing), said
            // before anything is written: ENOSPC up front, not a full disk halfway.
            var fs = statvfs()
            let needed = UInt64(st.st_blocks) * 512
            if fstatvfs(out, &fs) == 0, needed > UInt64(fs.f_bavail) * UInt64(fs.f_frsize) {
                throw WarehouseError.io(source, "needs \(needed >> 20) MiB, and the share folder's disk has \((UInt64(fs.f_bavail) * UInt64(fs.f_frsize)) >> 20) MiB free (\(String(cString: strerror(ENOSPC))))")
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var copied: UInt64 = 0
        // Only the data of a sparse file is copied; its holes stay holes (SEEK_DATA/SEEK_HOLE).
        let total: Int = type == S_IFREG ? Int(st.st_size) : -1
        var position = 0
        while type == S_IFREG && position < total {
            let data = lseek(input, off_t(position), 3 /* SEEK_DATA */)
            if data < 0 { break }   // the rest is a hole (or the file system does not say)
            let hole = lseek(input, data, 4 /* SEEK_HOLE */)
            let end: Int = hole < 0 ? total : min(Int(hole), total)
            var offset = Int(data)
            while offset < end {
                let n = pread(input, buffer.baseAddress!, min(buffer.count, end - offset), off_t(offset))
                if n < 0 { if errno == EINTR { continue }; throw WarehouseError.io(source, String(cString: strerror(errno))) }
                if n == 0 { break }
                var done = 0
                while done < n {
                    let m = pwrite(out, buffer.baseAddress! + done, n - done, off_t(offset) + off_t(done))
                    if m < 0 { if errno == EINTR { continue }; throw WarehouseError.io(target.description, String(cString: strerror(errno))) }
                    done += m
                }
                offset += n
                copied += UInt64(n)
                progress?(UInt64(offset), UInt64(total))
            }
            position = end
        }
        if type == S_IFREG {
            guard ftruncate(out, off_t(total)) == 0 else { throw WarehouseError.io(target.description, String(cString: strerror(errno))) }
        }
        while type != S_IFREG {
            let n = read(input, buffer.baseAddress!, buffer.count)
            if n < 0 { if errno == EINTR { continue }; throw WarehouseError.io(source, String(cString: strerror(errno))) }
            if n == 0 { break }
            copied += UInt64(n)
            progress?(copied, type == S_IFREG ? UInt64(st.st_size) : copied)
            var done = 0
            while done < n {
                let m = write(out, buffer.baseAddress! + done, n - done)
                if m < 0 { if errno == EINTR { continue }; throw WarehouseError.io(target.description, String(cString: strerror(errno))) }
                done += m
            }
        }
        if type == S_IFREG {
            var times = [st.st_atim, st.st_mtim]
            futimens(out, &times)
        }
        guard fsync(out) == 0 else { throw WarehouseError.io(target.description, String(cString: strerror(errno))) }
        let targetFull = absolute(target)
        let renamed = withCPath(tempFull) { a in withCPath(targetFull) { b in rename(a, b) } }
        guard renamed == 0 else { throw WarehouseError.io(target.description, String(cString: strerror(errno))) }
        ok = true
    }

    /// Forgets the published state of share-folder files whose record is no longer on the
    /// chain (after `peernet repair` dropped damaged blocks): the next pass publishes them again.
    public static func forgetRecordsMissingFromChain(_ store: LocalStore) throws -> Int {
        let index = try ShareIndex(db: store.db)
        let ids = Set(try store.chain.files().map(\.id))
        var forgotten = 0
        try store.db.transaction {
            for (path, row) in try index.all() where !ids.contains(row.id) {
                try index.remove(path)
                forgotten += 1
            }
        }
        return forgotten
    }

    // MARK: Migration

    /// Writes the files the chain shares into an empty share folder, once (nodes from before
    /// the share folder kept their shares only in the warehouse). Their index rows are made
    /// from the records, so nothing is hashed again.
    private func migrateExistingShares() throws {
        guard try index.meta("migrated") == nil else { return }
        var written = 0
        for file in try store.chain.files() where file.isVirtualFolder {
            let parts = (file.folder.split(whereSeparator: { $0 == "/" || $0 == "\\" }).map(String.init) + [file.name])
                .map { $0.replacingOccurrences(of: "/", with: "_") }.filter { !$0.isEmpty && $0 != "." && $0 != ".." }
            guard !parts.isEmpty else { continue }
            let path = SharePath(parts.joined(separator: "/"))
            try FileManager.default.createDirectory(atPath: String(decoding: absolute(path), as: UTF8.self),
                                                    withIntermediateDirectories: true)
            try index.putFolder(path, file.id)
            state.withLock { $0.folders[path] = file.id }
        }
        for file in try store.chain.files() where !file.isVirtualFolder {
            let folderPart = file.folder.split(whereSeparator: { $0 == "/" || $0 == "\\" })
                .map { String($0) }.filter { !$0.isEmpty && $0 != "." && $0 != ".." }
            var name = file.name.replacingOccurrences(of: "/", with: "_")
            if name.isEmpty || name == "." || name == ".." { name = file.id.uuidString }
            var path = SharePath(folderPart.joined(separator: "/")).appending(Array(name.utf8))
            if state.withLock({ $0.rows[path] != nil }) { path = path.parent.appending(Array("\(file.id.uuidString)-\(name)".utf8)) }
            let dir = String(decoding: absolute(path.parent), as: UTF8.self)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            guard let source = store.warehouse.contentPath(file.hash) else { continue }
            let full = absolute(path)
            let input = open(source, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { continue }  // content missing: the record stays as it is
            defer { close(input) }
            let out = withCPath(full) { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
            guard out >= 0 else { throw WarehouseError.io(path.description, String(cString: strerror(errno))) }
            do {
                try FileCopy.copy(from: input, to: out, size: file.size, sourceLabel: source, targetLabel: path.description)
            } catch {
                close(out)
                throw error
            }
            if let created = file.dateCreated ?? file.dateShared {
                var times = [timespec(tv_sec: Int(created), tv_nsec: 0), timespec(tv_sec: Int(created), tv_nsec: 0)]
                futimens(out, &times)
            }
            fsync(out)
            var st = stat()
            fstat(out, &st)
            close(out)
            let row = ShareIndex.Row(signature: FileSignature(st), hash: file.hash, id: file.id, description: file.fileDescription,
                                     ctimeNs: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
            try index.put(path, row)
            state.withLock { $0.rows[path] = row }
            written += 1
        }
        try index.setMeta("migrated", "1")
        if written > 0 { shareLog.info("wrote \(written) shared files into the share folder \(folder.path)") }
    }
}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
