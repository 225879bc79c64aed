import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol

/// Limits of the remote-chain cache (the reference's defaults where it has them).
public struct CacheLimits: Sendable, Equatable {
    /// Bytes per block (Get Block's "max block size").
    public var maxBlockSize: UInt64 = 50_096
    /// Blocks requested and kept per peer. The reference keeps 256; a share of 100,000 files
    /// takes ~350 full blocks (~175 bytes a file record), so ours keeps 1,024 (about 290,000
    /// files), still bounded by `maxTotalBytes`.
    public var maxBlocksPerPeer: UInt64 = 1024
    /// Bytes of cached blocks in total; past it, no new chains are cached.
    public var maxTotalBytes: UInt64 = 1 << 30
    public init() {}
}

/// Other peers' blockchains, cached in SQLite so their shares can be listed and searched
/// offline (data.md §2.5). Every block is validated before it is stored; a version change
/// discards the stale blocks and their catalog entries in the same transaction.
public final class ChainCache: @unchecked Sendable {
    let db: SQLiteDatabase
    let catalog: FileCatalog
    public let limits: CacheLimits

    public struct Header: Equatable, Sendable {
        public var version: UInt64
        public var height: UInt64
        public var blocks: Int
        public var lastUpdate: Int64
    }

    /// What to do after a peer advertised (version, height).
    public enum Assessment: Equatable, Sendable {
        case upToDate
        /// Download `count` blocks starting at `from`.
        case download(from: UInt64, count: UInt64)
        /// The peer offers an older version, or fewer blocks of the same version, than the cache
        /// holds (a restored backup of the owner, or a replay): ignored, the cached chain stays.
        /// Accepting it brought deleted files back.
        case olderThanCached
        /// Empty chain, or the cache is full.
        case nothing
    }

    init(db: SQLiteDatabase, catalog: FileCatalog, limits: CacheLimits) throws {
        self.db = db
        self.catalog = catalog
        self.limits = limits
        try db.execute("""
        CREATE TABLE IF NOT EXISTS cache_headers (owner BLOB PRIMARY KEY, version INTEGER NOT NULL, height INTEGER NOT NULL,
            updated INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS cache_blocks (owner BLOB NOT NULL, number INTEGER NOT NULL, version INTEGER NOT NULL,
            raw BLOB NOT NULL, PRIMARY KEY (owner, number)) WITHOUT ROWID;
        """)
    }

    public func header(_ owner: PublicKey) throws -> Header? {
        guard let row = try db.query("""
            SELECT h.version, h.height, (SELECT count(*) FROM cache_blocks b WHERE b.owner = h.owner), h.updated
            FROM cache_headers h WHERE h.owner = ?
            """, [.blob(owner.compressed)]).first else { return nil }
        return Header(version: UInt64(bitPattern: row[0].int), height: UInt64(bitPattern: row[1].int), blocks: Int(row[2].int),
                      lastUpdate: row[3].int)
    }

    /// Owners with a cached chain.
    public func owners() throws -> [PublicKey] {
        try db.query("SELECT owner FROM cache_headers").compactMap { try? PublicKey(bytes: $0[0].bytes) }
    }

    public var totalBytes: UInt64 {
        UInt64(bitPattern: (try? db.query("SELECT coalesce(sum(length(raw)), 0) FROM cache_blocks").first?.first?.int) ?? 0)
    }

    /// Compares an advertised chain state with the cache and prepares it (§2.5's table).
    public func assess(owner: PublicKey, version: UInt64, height: UInt64) throws -> Assessment {
        try db.transaction {
            let now = Int64(Date().timeIntervalSince1970)
            guard let cached = try header(owner) else {
                // No header means no chain: leftovers in the catalog (from an interrupted
                // drop) must not mix with the chain about to be fetched.
                try catalog.removeAll(owner: owner)
                guard height > 0 else { return .nothing }
                guard totalBytes < limits.maxTotalBytes else { return .nothing }
                try setHeader(owner, version: version, height: height, now: now)
                return .download(from: 0, count: min(height, limits.maxBlocksPerPeer))
            }
            if cached.version == version && cached.height == height {
                // Fill gaps left by earlier failed downloads.
                let have = try blockNumbers(owner)
                let wanted = min(height, limits.maxBlocksPerPeer)
                if let first = (0..<wanted).first(where: { !have.contains($0) }) { return .download(from: first, count: wanted - first) }
                return .upToDate
            }
            if cached.version > version || (cached.version == version && cached.height > height) {
                return .olderThanCached
            }
            if version > cached.version {
                try drop(owner)
                guard height > 0 else { return .nothing }
                try setHeader(owner, version: version, height: height, now: now)
                return .download(from: 0, count: min(height, limits.maxBlocksPerPeer))
            }
            // Same version, more blocks.
            try setHeader(owner, version: version, height: height, now: now)
            guard cached.height < limits.maxBlocksPerPeer else { return .upToDate }
            return .download(from: cached.height, count: min(height - cached.height, limits.maxBlocksPerPeer - cached.height))
        }
    }

    private func setHeader(_ owner: PublicKey, version: UInt64, height: UInt64, now: Int64) throws {
        try db.run("INSERT OR REPLACE INTO cache_headers VALUES (?, ?, ?, ?)",
                   [.blob(owner.compressed), .integer(Int64(bitPattern: version)), .integer(Int64(bitPattern: height)), .integer(now)])
    }

    func blockNumbers(_ owner: PublicKey) throws -> Set<UInt64> {
        Set(try db.query("SELECT number FROM cache_blocks WHERE owner = ?", [.blob(owner.compressed)]).map { UInt64(bitPattern: $0[0].int) })
    }

    public func block(_ owner: PublicKey, number: UInt64) throws -> [UInt8]? {
        try db.query("SELECT raw FROM cache_blocks WHERE owner = ? AND number = ?", [.blob(owner.compressed), .integer(Int64(bitPattern: number))])
            .first?.first?.bytes
    }

    /// A downloaded block left out of the cache, and why (forged, stale, unlinked, too large).
    public struct RejectedBlock: Sendable {
        public let number: UInt64
        public let error: any Error
    }

    /// Validates and stores one downloaded block, indexing its files. Throws (storing nothing)
    /// for a block that is forged, stale, unlinked or out of limits.
    public func ingest(owner: PublicKey, number: UInt64, raw: [UInt8]) throws {
        if let rejected = try ingest(owner: owner, blocks: [(number, raw)]).rejected.first { throw rejected.error }
    }

    /// Validates and stores downloaded blocks (in ascending order) in one transaction, indexing
    /// their files. A block that fails validation is left out without undoing the others: all
    /// of its checks run before anything of it is written. A database error ends the batch,
    /// with nothing of it kept, and is thrown.
    ///
    /// No savepoint per block: with one open, every statement's end cut SQLite's in-memory
    /// statement journal back to where it began, walking the journal's 1 KiB chunks from the
    /// start, and the journal grew with the block's pages. A 10,000-file sync spent 30 % of
    /// its time in that walk (perf: `memjrnlTruncate`).
    public func ingest(owner: PublicKey, blocks: [(number: UInt64, raw: [UInt8])]) throws -> (stored: Int, rejected: [RejectedBlock]) {
        try db.transaction {
            var stored = 0
            var rejected: [RejectedBlock] = []
            // The header does not change within the batch: read once.
            let cached = try header(owner)
            for (number, raw) in blocks {
                let valid: (version: UInt64, files: [FileRecord])
                do {
                    valid = try validate(owner: owner, header: cached, number: number, raw: raw)
                } catch let error as SQLiteError {
                    throw error  // the database, not the block
                } catch {
                    rejected.append(RejectedBlock(number: number, error: error))
                    continue
                }
                try db.run("INSERT OR REPLACE INTO cache_blocks VALUES (?, ?, ?, ?)",
                           [.blob(owner.compressed), .integer(Int64(bitPattern: number)), .integer(Int64(bitPattern: valid.version)), .blob(raw)])
                try catalog.add(valid.files, owner: owner, version: valid.version, block: number)
                stored += 1
            }
            return (stored, rejected)
        }
    }

    /// Every check of a downloaded block against the cache, before anything is written: the
    /// header, the signature and number, the link to the cached block before it and from the
    /// one after it, and its file records. Returns the version it belongs to and its files.
    private func validate(owner: PublicKey, header cached: Header?, number: UInt64, raw: [UInt8]) throws -> (version: UInt64, files: [FileRecord]) {
        guard let cached else { throw BlockchainError.notFound("no cache header for this peer") }
        guard number < cached.height else { throw BlockchainError.wrongNumber(expected: cached.height - 1, got: number) }
        var blockLimits = BlockLimits()
        blockLimits.maxBlockSize = Int(limits.maxBlockSize)
        let previous = number == 0 ? nil : try block(owner, number: number - 1).map { Hash256.blake3($0) }
        let decoded = try BlockValidator.validate(raw, owner: owner, number: number, version: cached.version,
                                                  previousHash: previous, limits: blockLimits)
        // The next block, if cached, must link to this one.
        if let next = try block(owner, number: number + 1), (try? Block.decode(next))?.block.previousHash != decoded.hash {
            throw BlockchainError.brokenLink(block: number + 1)
        }
        return (cached.version, try decoded.block.files())
    }

    /// Forgets headers that never got a block: every identity that announces a chain gets a
    /// header when its fetch starts, and one that never delivers (a fake announcement, a peer
    /// gone mid-fetch) must not stay as an empty folder in peers/ forever. Returns how many went.
    @discardableResult
    public func dropEmptyHeaders() throws -> Int {
        try db.transaction {
            let owners = try db.query("SELECT owner FROM cache_headers WHERE owner NOT IN (SELECT DISTINCT owner FROM cache_blocks)")
            for row in owners { try catalog.removeAll(owner: (try? PublicKey(bytes: row[0].bytes)) ?? PrivateKey().publicKey) }
            return try db.run("DELETE FROM cache_headers WHERE owner NOT IN (SELECT DISTINCT owner FROM cache_blocks)")
        }
    }

    /// Forgets a peer's chain and its catalog entries.
    public func drop(_ owner: PublicKey) throws {
        try db.transaction {
            try db.run("DELETE FROM cache_blocks WHERE owner = ?", [.blob(owner.compressed)])
            try db.run("DELETE FROM cache_headers WHERE owner = ?", [.blob(owner.compressed)])
            try catalog.removeAll(owner: owner)
        }
    }

    /// The latest profile fields of a cached chain.
    public func profile(_ owner: PublicKey) throws -> [UInt16: [UInt8]] {
        var out: [UInt16: [UInt8]] = [:]
        for row in try db.query("SELECT raw FROM cache_blocks WHERE owner = ? ORDER BY number", [.blob(owner.compressed)]) {
            guard let block = try? Block.decode(row[0].bytes).block else { continue }
            for f in (try? block.profileFields()) ?? [] { out[f.field] = f.value }
        }
        return out
    }
}
