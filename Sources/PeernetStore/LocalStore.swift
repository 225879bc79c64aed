import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetSupport
#if canImport(Glibc)
import Glibc
#endif
import Logging

private let storeLog = Logger.peernet("store")

public enum StoreError: Error, CustomStringConvertible, Equatable {
    case inUse(String)
    case notInWarehouse(Hash256)
    case noSuchFile(String)

    public var description: String {
        switch self {
        case .inUse(let dir): return "the data directory \(dir) is in use by a running node; talk to it instead (or stop it)"
        case .notInWarehouse(let h): return "content \(h.hex) is not in the warehouse"
        case .noSuchFile(let what): return "no shared file \(what)"
        }
    }
}

/// Everything a node keeps locally: the SQLite database (own chain, file catalog, search
/// index), the warehouse of shared content, and an exclusive lock so only one process at a
/// time owns the data directory. Opening it clears what a crash may have left: temporary
/// import files and content no record refers to.
public final class LocalStore: @unchecked Sendable {
    public let dataDirectory: DataDirectory
    public let db: SQLiteDatabase
    public let warehouse: Warehouse
    public let catalog: FileCatalog
    public let chain: UserBlockchain
    public let cache: ChainCache
    public let downloads: DownloadCache
    /// What is wrong with the stored blockchain, found at open (empty when it is sound), each
    /// with what to do. Logged as errors; `peernet status` and `peernet repair` show them.
    public let chainProblems: [String]
    private let lockFD: Int32

    public init(dataDirectory: DataDirectory, key: PrivateKey, cacheLimits: CacheLimits = CacheLimits(),
                downloadCacheBytes: UInt64 = 10 << 30) throws {
        self.dataDirectory = dataDirectory
        try dataDirectory.create()
        let lockPath = dataDirectory.file("store.lock").path
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            if fd >= 0 { close(fd) }
            throw StoreError.inUse(dataDirectory.path)
        }
        lockFD = fd
        let databasePath = dataDirectory.file("peernet.sqlite").path
        var problems: [String] = []
        var st = stat()
        // A database file that exists but is empty (truncated, or a failed copy) must not pass
        // for a new node: the chain would restart at version 0, and peers that cached ours
        // would ignore it as older. It restarts at a version above any it can have had.
        let lostDatabase = stat(databasePath, &st) == 0 && st.st_size == 0
        if lostDatabase {
            problems.append("peernet.sqlite was empty (0 bytes): your blockchain was lost and starts again, under a new version so peers take it; "
                            + "the files in your share folder are published again. Restore peernet.sqlite from a backup (with the node stopped) to keep the old records")
        }
        db = try SQLiteDatabase(path: databasePath)
        warehouse = try Warehouse(root: dataDirectory.file("warehouse"))
        catalog = try FileCatalog(db: db)
        chain = try UserBlockchain(db: db, key: key, catalog: catalog,
                                   startVersion: lostDatabase ? UInt64(Date().timeIntervalSince1970) : 0)
        cache = try ChainCache(db: db, catalog: catalog, limits: cacheLimits)
        downloads = try DownloadCache(db: db, root: dataDirectory.file("cache"), maxBytes: downloadCacheBytes)
        warehouse.collectGarbage(keep: try catalog.hashes(owner: key.publicKey))
        try cache.dropEmptyHeaders()
        let damage = chain.verify()
        if !damage.isEmpty {
            problems.append("your blockchain is damaged (" + damage.prefix(3).joined(separator: "; ")
                            + (damage.count > 3 ? "; and \(damage.count - 3) more" : "")
                            + "); peers drop the damaged blocks and the files in them. Repair it with: peernet repair (with the node stopped)")
        }
        chainProblems = problems
        for p in problems { storeLog.error("\(p)") }
    }

    deinit {
        db.close()
        flock(lockFD, LOCK_UN)
        close(lockFD)
    }

    /// What to share: a path plus the metadata that goes into the record.
    public struct ShareRequest: Sendable {
        public var path: String
        public var name: String?
        public var folder: String
        public var description: String
        public var id: TransferID?
        public init(path: String, name: String? = nil, folder: String = "", description: String = "", id: TransferID? = nil) {
            self.path = path
            self.name = name
            self.folder = folder
            self.description = description
            self.id = id
        }
    }

    /// Imports files into the warehouse and records them in one block append. Atomic: the
    /// content is complete under its hash before the records are committed; content of a
    /// failed or interrupted share is collected on the next open.
    public func share(_ requests: [ShareRequest], progress: ((String, UInt64, UInt64) -> Void)? = nil) throws -> [FileRecord] {
        var records: [FileRecord] = []
        for r in requests {
            var st = stat()
            let total = stat(r.path, &st) == 0 ? UInt64(st.st_size) : 0
            let imported = try warehouse.importFile(at: r.path) { done in progress?(r.path, done, total) }
            let name = r.name ?? (r.path == "-" ? "stdin" : (r.path as NSString).lastPathComponent)
            let (type, format) = FileTypeDetection.detect(name: name)
            var tags = [FileTag(type: FileTag.name, text: name)]
            if !r.folder.isEmpty { tags.append(FileTag(type: FileTag.folder, text: r.folder)) }
            if !r.description.isEmpty { tags.append(FileTag(type: FileTag.description, text: r.description)) }
            if st.st_mtim.tv_sec > 0 { tags.append(FileTag(type: FileTag.dateCreated, date: Int64(st.st_mtim.tv_sec))) }
            records.append(FileRecord(hash: imported.hash, id: r.id ?? .random(), merkleRoot: imported.merkle.root,
                                      fragmentSize: imported.merkle.fragmentSize, type: type, format: format,
                                      size: imported.size, tags: tags))
        }
        CrashPoint.hit("share-before-record")
        try chain.addFiles(records)
        return try records.map { try chain.file(id: $0.id) ?? $0 }
    }

    /// Removes shared files by ID (a version bump) and their content when nothing else refers to it.
    @discardableResult
    public func unshare(ids: Set<TransferID>) throws -> Int {
        let hashes = Set(try ids.compactMap { try chain.file(id: $0)?.hash })
        let removed = try chain.deleteFiles(ids: ids)
        let still = try catalog.hashes(owner: chain.owner)
        for h in hashes where !still.contains(h) { warehouse.delete(h) }
        return removed
    }
}
