import Foundation
import PeernetCrypto
import PeernetProtocol

/// What the publisher knows of each published file of the share folder: its path, the
/// signature it had when it was hashed, its content hash and the ID of its record. Kept in the
/// node's database, changed in the same transaction as the chain, so the two always agree.
struct ShareIndex {
    struct Row: Equatable {
        var signature: FileSignature
        var hash: Hash256
        var id: TransferID
        /// The description given with `peernet share --description` (kept across republishing).
        var description: String
        /// The change time when it was last hashed or checked.
        var ctimeNs: Int64 = 0
    }

    let db: SQLiteDatabase

    init(db: SQLiteDatabase) throws {
        self.db = db
        try db.execute("""
        CREATE TABLE IF NOT EXISTS share_index (
            path BLOB PRIMARY KEY, device INTEGER NOT NULL, inode INTEGER NOT NULL, size INTEGER NOT NULL,
            mtime INTEGER NOT NULL, hash BLOB NOT NULL, id BLOB NOT NULL, description TEXT NOT NULL DEFAULT '',
            ctime INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS share_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS share_folders (path BLOB PRIMARY KEY, id BLOB NOT NULL);
        """)
    }

    func all() throws -> [SharePath: Row] {
        var out: [SharePath: Row] = [:]
        for r in try db.query("SELECT path, device, inode, size, mtime, hash, id, description, ctime FROM share_index") {
            guard let hash = Hash256(r[5].bytes), let id = TransferID(r[6].bytes) else { continue }
            out[SharePath(r[0].bytes)] = Row(signature: FileSignature(device: UInt64(bitPattern: r[1].int), inode: UInt64(bitPattern: r[2].int),
                                                                      size: UInt64(bitPattern: r[3].int), modifiedNs: r[4].int),
                                             hash: hash, id: id, description: r[7].string, ctimeNs: r[8].int)
        }
        return out
    }

    func put(_ path: SharePath, _ row: Row) throws {
        try db.run("INSERT OR REPLACE INTO share_index VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            .blob(path.bytes), .integer(Int64(bitPattern: row.signature.device)), .integer(Int64(bitPattern: row.signature.inode)),
            .integer(Int64(bitPattern: row.signature.size)), .integer(row.signature.modifiedNs), .blob(row.hash.bytes),
            .blob(row.id.bytes), .text(row.description), .integer(row.ctimeNs),
        ])
    }

    func remove(_ path: SharePath) throws {
        try db.run("DELETE FROM share_index WHERE path = ?", [.blob(path.bytes)])
    }

    /// Empty folders published as virtual folder records, by path.
    func folders() throws -> [SharePath: TransferID] {
        var out: [SharePath: TransferID] = [:]
        for r in try db.query("SELECT path, id FROM share_folders") {
            if let id = TransferID(r[1].bytes) { out[SharePath(r[0].bytes)] = id }
        }
        return out
    }

    func putFolder(_ path: SharePath, _ id: TransferID) throws {
        try db.run("INSERT OR REPLACE INTO share_folders VALUES (?, ?)", [.blob(path.bytes), .blob(id.bytes)])
    }

    func removeFolder(_ path: SharePath) throws {
        try db.run("DELETE FROM share_folders WHERE path = ?", [.blob(path.bytes)])
    }

    func meta(_ key: String) throws -> String? {
        try db.query("SELECT value FROM share_meta WHERE key = ?", [.text(key)]).first?.first?.string
    }

    func setMeta(_ key: String, _ value: String) throws {
        try db.run("INSERT OR REPLACE INTO share_meta VALUES (?, ?)", [.text(key), .text(value)])
    }
}
