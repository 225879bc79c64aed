import Foundation
import PeernetBlockchain
import PeernetProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Content the web API publishes (`/blockchain/file/add` and `update`): warehouse content is
/// placed in the share folder and published from there, so a file shared through the API is a
/// file in `me/`, and the folder stays the one truth the publisher follows.
extension SharePublisher {
    /// One file (or, with no hash, one folder) to place.
    public struct Placement: Sendable {
        /// Content already in the warehouse; nil for a virtual folder.
        public var hash: Hash256?
        public var folder: String
        public var name: String
        public var description: String
        /// The record ID to publish under (a new one when nil or already taken).
        public var id: TransferID?

        public init(hash: Hash256?, folder: String, name: String, description: String = "", id: TransferID? = nil) {
            self.hash = hash
            self.folder = folder
            self.name = name
            self.description = description
            self.id = id
        }
    }

    public enum PlacementError: Error, Equatable, CustomStringConvertible {
        /// The content is not in the warehouse (the reference's StatusNotInWarehouse).
        case notInWarehouse(Hash256)
        /// No published file has this ID.
        case unknownID(TransferID)
        /// The folder's ignore rules keep this name from being published.
        case ignored(String)
        case failed(String)

        public var description: String {
            switch self {
            case .notInWarehouse(let h): return "\(h.hex) is not in the warehouse"
            case .unknownID(let id): return "no published file has the ID \(id.uuidString.lowercased())"
            case .ignored(let p): return "\(p) matches an ignore rule and is not published"
            case .failed(let why): return why
            }
        }
    }

    /// Places every item in the folder, then publishes them in one pass. Returns their records
    /// (folders included), in order.
    public func add(_ items: [Placement]) throws -> [FileRecord] {
        var targets: [SharePath] = []
        var folders: [SharePath] = []
        for item in items {
            let dir = Self.relative(item.folder)
            let name = Self.safeName(item.name, fallback: item.hash == nil ? "folder" : "file")
            guard let hash = item.hash else {
                let path = dir.appending(Array(name.utf8))
                try makeDirectories(path)
                folders.append(path)
                continue
            }
            guard let source = store.warehouse.contentPath(hash) else { throw PlacementError.notInWarehouse(hash) }
            try refuseIgnored(dir.appending(Array(name.utf8)))
            try makeDirectories(dir)
            var target = dir.appending(Array(name.utf8))
            if !sameContent(source, absolute(target)) {
                target = freeName(in: dir, name)
                try place(hash, from: source, at: target)
            }
            targets.append(target)
            remember(target, description: item.description, id: item.id)
        }
        return try publish(targets, folders: folders)
    }

    /// Changes published files, found by ID: content (another warehouse hash), place (folder
    /// and name) and description. The record keeps its ID. A move with the same content is a
    /// rename; nothing is copied.
    public func update(_ items: [Placement]) throws -> [FileRecord] {
        var targets: [SharePath] = []
        for item in items {
            guard let id = item.id else { throw PlacementError.failed("an update needs the file's ID") }
            guard let (path, row) = state.withLock({ s in s.rows.first { $0.value.id == id }.map { ($0.key, $0.value) } }) else {
                throw PlacementError.unknownID(id)
            }
            let dir = Self.relative(item.folder)
            let name = Self.safeName(item.name, fallback: path.name)
            var target = dir.appending(Array(name.utf8))
            try refuseIgnored(target)
            try makeDirectories(dir)
            if target != path && access(String(decoding: absolute(target), as: UTF8.self), F_OK) == 0 {
                target = freeName(in: dir, name)
            }
            let hash = item.hash ?? row.hash
            if hash == row.hash {
                if target != path {
                    let moved = withCPath(absolute(path)) { a in withCPath(absolute(target)) { b in rename(a, b) } }
                    guard moved == 0 else { throw PlacementError.failed("\(path) → \(target): \(String(cString: strerror(errno)))") }
                }
            } else {
                guard let source = store.warehouse.contentPath(hash) else { throw PlacementError.notInWarehouse(hash) }
                try place(hash, from: source, at: target)
                if target != path { _ = withCPath(absolute(path)) { Glibc.unlink($0) } }
            }
            if target != path { removeEmptyParents(of: path) }
            targets.append(target)
            remember(target, description: item.description, id: id)
        }
        return try publish(targets, folders: [])
    }

    /// Deleting the account: publishing stops, and the folder is moved aside (its files are
    /// the user's and are kept, but nothing in it is shared again, under any identity).
    /// Returns where it went.
    public func retire() throws -> URL {
        stop()
        let stamp = Int(Date().timeIntervalSince1970)
        let aside = folder.deletingLastPathComponent().appendingPathComponent("\(folder.lastPathComponent).account-deleted-\(stamp)")
        guard rename(folder.path, aside.path) == 0 else { throw PlacementError.failed("\(folder.path): \(String(cString: strerror(errno)))") }
        try store.db.transaction {
            try store.db.run("DELETE FROM share_index")
            try store.db.run("DELETE FROM share_folders")
        }
        state.withLock { $0.rows = [:]; $0.folders = [:] }
        return aside
    }

    // MARK: Helpers

    /// Names the ignore rules keep from the network are refused before anything is written.
    private func refuseIgnored(_ path: SharePath) throws {
        if state.withLock({ $0.ignore.isIgnored(path.textComponents, isDirectory: false) }) {
            throw PlacementError.ignored(path.description)
        }
    }

    /// Folders a move left empty go too (else each would be published as an empty folder);
    /// rmdir leaves any folder that still holds something.
    func removeEmptyParents(of path: SharePath) {
        var parent = path.parent
        while !parent.bytes.isEmpty, withCPath(absolute(parent), { Glibc.rmdir($0) }) == 0 {
            parent = parent.parent
        }
    }

    private func remember(_ target: SharePath, description: String, id: TransferID?) {
        state.withLock { s in
            s.descriptions[target] = description
            if let id { s.requestedIDs[target] = id }
        }
    }

    private func publish(_ targets: [SharePath], folders: [SharePath]) throws -> [FileRecord] {
        pass(settled: Set(targets))
        let (rows, published, failed) = state.withLock { ($0.rows, $0.folders, $0.failed) }
        var records: [FileRecord] = []
        for t in targets {
            if let why = failed[t] { throw PlacementError.failed("\(t): \(why)") }
            guard let row = rows[t] else { throw PlacementError.ignored(t.description) }
            if let record = try store.chain.file(id: row.id) { records.append(record) }
        }
        for f in folders {
            // A folder that holds something is published through its files' folder tags.
            if let id = published[f], let record = try store.chain.file(id: id) { records.append(record) }
        }
        return records
    }

    /// Moves stored content into the folder when it can (content stays stored once: the
    /// publisher links it back), else copies it.
    private func place(_ hash: Hash256, from source: String, at target: SharePath) throws {
        if source == store.warehouse.path(for: hash) {
            let moved = withCPath(absolute(target)) { t in rename(source, t) }
            if moved == 0 { return }
            guard errno == EXDEV else { throw PlacementError.failed("\(target): \(String(cString: strerror(errno)))") }
        }
        do { try copyIn(source, to: target, progress: nil) } catch { throw PlacementError.failed("\(error)") }
    }

    private func makeDirectories(_ dir: SharePath) throws {
        guard !dir.bytes.isEmpty else { return }
        do {
            try FileManager.default.createDirectory(atPath: String(decoding: absolute(dir), as: UTF8.self), withIntermediateDirectories: true)
        } catch {
            throw PlacementError.failed("\(dir): \(error.localizedDescription)")
        }
    }

    /// `name`, or `stem (2).ext` and so on when the name is taken.
    func freeName(in dir: SharePath, _ name: String) -> SharePath {
        var target = dir.appending(Array(name.utf8))
        var n = 2
        while access(String(decoding: absolute(target), as: UTF8.self), F_OK) == 0 && n < 10_000 {
            let ext = (name as NSString).pathExtension
            let stem = (name as NSString).deletingPathExtension
            target = dir.appending(Array((ext.isEmpty ? "\(stem) (\(n))" : "\(stem) (\(n)).\(ext)").utf8))
            n += 1
        }
        return target
    }

    /// A folder tag as a path inside the share folder: "/" and "\" separate, and "." and ".."
    /// are dropped, so no name from the API reaches outside the folder.
    static func relative(_ folder: String) -> SharePath {
        SharePath(folder.split(whereSeparator: { $0 == "/" || $0 == "\\" }).map(String.init)
            .filter { $0 != "." && $0 != ".." && !$0.isEmpty }.joined(separator: "/"))
    }

    /// A record name as one file name: path separators split it, "." and ".." parts go, and
    /// what is left is joined with "_" ("../../a.pdf" is "a.pdf").
    static func safeName(_ name: String, fallback: String) -> String {
        let parts = name.replacingOccurrences(of: "\0", with: "").split(whereSeparator: { $0 == "/" || $0 == "\\" })
            .filter { $0 != "." && $0 != ".." }
        return parts.isEmpty ? fallback : parts.joined(separator: "_")
    }
}
