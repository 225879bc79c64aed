import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol

/// The user's own blockchain (data.md §1.8-1.10) in SQLite: the signed local header and the
/// raw blocks, changed only in transactions that also update the file catalog, so a crash
/// leaves either the old or the new chain, never a mix.
public final class UserBlockchain: @unchecked Sendable {
    let db: SQLiteDatabase
    let key: PrivateKey
    let catalog: FileCatalog
    public private(set) var height: UInt64 = 0
    public private(set) var version: UInt64 = 0

    /// `startVersion`: the version a chain that does not exist yet starts at (0 for a new
    /// identity; higher when a lost database is replaced, so peers that cached the old chain
    /// take the new one instead of ignoring it as older).
    init(db: SQLiteDatabase, key: PrivateKey, catalog: FileCatalog, startVersion: UInt64 = 0) throws {
        self.db = db
        self.key = key
        self.catalog = catalog
        try db.execute("""
        CREATE TABLE IF NOT EXISTS chain_header (id INTEGER PRIMARY KEY CHECK (id = 1), raw BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS chain_blocks (number INTEGER PRIMARY KEY, raw BLOB NOT NULL);
        """)
        if let raw = try db.query("SELECT raw FROM chain_header WHERE id = 1").first?.first?.bytes {
            let header = try ChainHeader.decode(raw, owner: key.publicKey)
            height = header.height
            version = header.version
        } else {
            version = startVersion
            try db.transaction { try writeHeader() }
        }
    }

    // MARK: Checking and repairing

    /// What is wrong with the stored chain (empty when it is sound): every block is checked as
    /// a peer would check it (signature, owner, number, version, link to the previous block,
    /// records), so damage is found here and not by peers that silently drop the block.
    public func verify() -> [String] {
        var problems: [String] = []
        var previous: Hash256? = nil
        for n in 0..<height {
            guard let raw = try? block(n) else {
                problems.append("block \(n) of \(height) is missing")
                previous = nil
                continue
            }
            do {
                var limits = BlockLimits()
                limits.maxBlockSize = max(limits.maxBlockSize, raw.count)
                _ = try BlockValidator.validate(raw, owner: owner, number: n, version: version, previousHash: previous, limits: limits)
            } catch {
                problems.append("block \(n) is damaged: \(error)")
            }
            previous = Hash256.blake3(raw)
        }
        let stored = (try? db.query("SELECT count(*) FROM chain_blocks").first?.first?.int) ?? 0
        if UInt64(stored) > height { problems.append("\(UInt64(stored) - height) blocks beyond the height \(height)") }
        return problems
    }

    /// Rewrites the chain from what survives in it: the records of every block that still
    /// decodes with a valid signature of ours, re-signed under a new, higher version (peers
    /// replace their copy). Damaged blocks' records are lost here; the share folder's publisher
    /// publishes those files again. Returns how many files were kept.
    @discardableResult
    public func rebuild(now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Int {
        var files: [FileRecord] = []
        var other: [BlockRecord] = []
        for n in 0..<height {
            guard let raw = try? block(n), let decoded = try? Block.decode(raw), decoded.owner == owner else { continue }
            for (i, record) in decoded.block.records.enumerated() {
                switch record.type {
                case .tagData: continue
                case .file: if let f = try? FileRecordCodec.decode(decoded.block.records, index: i) { files.append(f) }
                default: other.append(record)
                }
            }
        }
        try rewritePacked(files: files, other: other, version: max(version + 1, UInt64(max(0, now))), now: now)
        return files.count
    }

    private func writeHeader() throws {
        try db.run("INSERT OR REPLACE INTO chain_header VALUES (1, ?)", [.blob(ChainHeader(height: height, version: version).encode(signer: key))])
    }

    public var owner: PublicKey { key.publicKey }

    /// The raw bytes of block `number` (what Get Block serves).
    public func block(_ number: UInt64) throws -> [UInt8]? {
        try db.query("SELECT raw FROM chain_blocks WHERE number = ?", [.integer(Int64(bitPattern: number))]).first?.first?.bytes
    }

    public func decodedBlocks() throws -> [Block] {
        try db.query("SELECT raw FROM chain_blocks ORDER BY number").map { try Block.decode($0[0].bytes).block }
    }

    // MARK: Appending

    private func append(_ records: [BlockRecord]) throws {
        let previous = height == 0 ? Hash256.zero : try block(height - 1).map { Hash256.blake3($0) } ?? Hash256.zero
        let raw = try Block(previousHash: previous, version: version, number: height, records: records).encode(signer: key)
        try db.run("INSERT OR REPLACE INTO chain_blocks VALUES (?, ?)", [.integer(Int64(bitPattern: height)), .blob(raw)])
        let files = try Block.decode(raw).block.files()
        try catalog.add(files, owner: key.publicKey, version: version, block: height)
        height += 1
    }

    /// Profile and other non-file records are grouped up to this estimate. File records are
    /// packed by their exact encoded size up to the 50,096 bytes readers fetch
    /// (`FileRecordCodec.packedGroups`). The reference aims at 4 KiB, and readers cache at most
    /// 256 blocks per peer: at 4 KiB a peer saw only the first ~256 publishes of a `cp -r`.
    static let blockTarget = 45_000

    /// Profile and other non-file records in groups of up to `blockTarget` bytes.
    static func otherGroups(_ records: [BlockRecord]) -> [[BlockRecord]] {
        BlockPacker.groups(records, target: blockTarget, estimate: { BlockRecord.headerSize + $0.data.count })
    }

    /// Appends file records (one transaction), packed into blocks of up to 50,096 bytes, the
    /// largest any reader fetches.
    public func addFiles(_ files: [FileRecord], date: Int64 = Int64(Date().timeIntervalSince1970)) throws {
        guard !files.isEmpty else { return }
        let before = (height, version)
        do {
            try db.transaction {
                for group in FileRecordCodec.packedGroups(files, limit: BlockPacker.maxReadableBlockSize) {
                    try appendFitting(group, date: date)
                }
                CrashPoint.hit("chain-before-commit")
                try writeHeader()
            }
        } catch {
            (height, version) = before
            throw error
        }
    }

    /// Appends a group of files as one block, or as several when the encoded block would be
    /// larger than readers fetch (the size estimate does not know the tag-data sharing).
    private func appendFitting(_ group: [FileRecord], date: Int64) throws {
        let records = FileRecordCodec.encode(group, date: date)
        let size = Block.headerSize + records.reduce(0) { $0 + BlockRecord.headerSize + $1.data.count }
        if size > BlockPacker.maxReadableBlockSize && group.count > 1 {
            try appendFitting(Array(group[..<(group.count / 2)]), date: date)
            try appendFitting(Array(group[(group.count / 2)...]), date: date)
        } else {
            try append(records)
        }
    }

    /// Withdraws everything (an empty chain, version + 1, which peers take in place of what
    /// they cached): the first step of deleting the account.
    public func withdrawAll(now: Int64 = Int64(Date().timeIntervalSince1970)) throws {
        _ = try refactor(now: now, dropFile: { _ in true }, dropProfile: { _ in true })
    }

    /// Forgets the chain entirely (blocks, header and its catalog rows), so the next start,
    /// with a new identity, begins a chain of its own. The account's last step.
    public func forgetAll() throws {
        try db.transaction {
            try db.run("DELETE FROM chain_blocks")
            try db.run("DELETE FROM chain_header")
            try catalog.removeAll(owner: key.publicKey)
        }
    }

    /// Appends already encoded records as one block (the web API's /blockchain/append). The
    /// block must fit what readers fetch and its file and profile records must decode;
    /// otherwise nothing changes.
    public func appendRaw(_ records: [BlockRecord]) throws {
        guard !records.isEmpty else { return }
        let size = Block.headerSize + records.reduce(0) { $0 + BlockRecord.headerSize + $1.data.count }
        guard size <= BlockPacker.maxReadableBlockSize else {
            throw BlockchainError.invalidRecord(index: 0, reason: "the block would be \(size) bytes; readers fetch at most \(BlockPacker.maxReadableBlockSize)")
        }
        let before = (height, version)
        do {
            try db.transaction {
                try append(records)
                if let raw = try block(height - 1) { _ = try Block.decode(raw).block.profileFields() }
                try writeHeader()
            }
        } catch {
            (height, version) = before
            throw error
        }
    }

    /// Adds and removes files in one transaction: the removal rewrites the chain (version + 1)
    /// only if something is removed, the additions go into as few blocks as fit.
    public func update(removing ids: Set<TransferID>, adding files: [FileRecord], now: Int64 = Int64(Date().timeIntervalSince1970)) throws {
        guard !ids.isEmpty || !files.isEmpty else { return }
        let before = (height, version)
        do {
            try db.transaction {
                if !ids.isEmpty { try deleteFiles(ids: ids, now: now) }
                try addFiles(files, date: now)
            }
        } catch {
            (height, version) = before
            throw error
        }
    }

    /// Rewrites the chain into as few blocks as its records fit (version + 1), when it has grown
    /// past `threshold` blocks and packing would at least halve it: blocks appended over time
    /// (one per publish) can fill the 256 blocks readers cache. Returns whether it compacted.
    @discardableResult
    public func compactIfNeeded(threshold: UInt64 = 32, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Bool {
        guard height > threshold else { return false }
        let (files, other) = try recordsByKind()
        let packed = Self.pack(files: files, other: other)
        guard height >= 2 * UInt64(packed.files.count + packed.other.count) + 2 else { return false }
        try rewrite(packed, version: version + 1, now: now)
        return true
    }

    /// Rewrites the chain under a version above `seen` (the newest version of it that peers
    /// hold, from a chain marker), so peers that cached that one take ours again. Returns
    /// whether it changed anything.
    @discardableResult
    public func moveVersion(above seen: UInt64, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Bool {
        guard seen >= version, seen < UInt64.max else { return false }
        let (files, other) = try recordsByKind()
        try rewritePacked(files: files, other: other, version: seen + 1, now: now)
        return true
    }

    /// Every file record and every other record (profile and the like, in order).
    private func recordsByKind() throws -> (files: [FileRecord], other: [BlockRecord]) {
        var files: [FileRecord] = []
        var other: [BlockRecord] = []
        for block in try decodedBlocks() {
            for (i, record) in block.records.enumerated() {
                switch record.type {
                case .tagData: continue
                case .file: files.append(try FileRecordCodec.decode(block.records, index: i))
                default: other.append(record)
                }
            }
        }
        return (files, other)
    }

    /// `other` records (profile and the like, in order) and `files`, in the groups of their
    /// blocks: as few as fit.
    static func pack(files: [FileRecord], other: [BlockRecord]) -> (files: [[FileRecord]], other: [[BlockRecord]]) {
        (FileRecordCodec.packedGroups(files, limit: BlockPacker.maxReadableBlockSize), otherGroups(other))
    }

    /// Replaces the whole chain with `other` records and then `files`, packed into as few
    /// blocks as fit, under `version` (one transaction).
    private func rewritePacked(files: [FileRecord], other: [BlockRecord], version newVersion: UInt64, now: Int64) throws {
        try rewrite(Self.pack(files: files, other: other), version: newVersion, now: now)
    }

    /// Replaces the whole chain with packed groups (`pack`), under `version`.
    private func rewrite(_ packed: (files: [[FileRecord]], other: [[BlockRecord]]), version newVersion: UInt64, now: Int64) throws {
        let before = (height, version)
        do {
            try db.transaction {
                try db.run("DELETE FROM chain_blocks")
                try catalog.removeAll(owner: key.publicKey)
                version = newVersion
                height = 0
                for group in packed.other {
                    try append(group)
                }
                for group in packed.files {
                    try appendFitting(group, date: now)
                }
                try writeHeader()
            }
        } catch {
            (height, version) = before
            throw error
        }
    }

    /// Appends profile fields (the latest record of a field wins).
    public func writeProfile(_ fields: [ProfileField], date: Int64 = Int64(Date().timeIntervalSince1970)) throws {
        guard !fields.isEmpty else { return }
        let before = (height, version)
        do {
            try db.transaction {
                for group in BlockPacker.groups(fields, estimate: { BlockRecord.headerSize + 2 + $0.value.count }) {
                    try append(group.map { $0.record(date: date) })
                }
                try writeHeader()
            }
        } catch {
            (height, version) = before
            throw error
        }
    }

    // MARK: Rewriting (§1.9)

    /// Deletes file records by ID; returns how many were removed. Rewrites the chain with
    /// version + 1 when anything matched (the reference's refactoring).
    @discardableResult
    public func deleteFiles(ids: Set<TransferID>, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Int {
        try refactor(now: now, dropFile: { ids.contains($0.id) }, dropProfile: { _ in false })
    }

    /// Deletes profile fields; returns how many records were removed.
    @discardableResult
    public func deleteProfile(fields: Set<UInt16>, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Int {
        try refactor(now: now, dropFile: { _ in false }, dropProfile: { fields.contains($0.field) })
    }

    /// Replaces files with the same IDs (delete then add, one transaction).
    public func replaceFiles(_ files: [FileRecord], now: Int64 = Int64(Date().timeIntervalSince1970)) throws {
        let before = (height, version)
        do {
            try db.transaction {
                try deleteFiles(ids: Set(files.map(\.id)), now: now)
                try addFiles(files, date: now)
            }
        } catch {
            (height, version) = before
            throw error
        }
    }

    private func refactor(now: Int64, dropFile: (FileRecord) -> Bool, dropProfile: (ProfileField) -> Bool) throws -> Int {
        let blocks = try decodedBlocks()
        var dropped = 0
        var newRecords: [[BlockRecord]] = []
        for block in blocks {
            var keptOther: [BlockRecord] = []
            var keptFiles: [FileRecord] = []
            var changed = false
            for (i, record) in block.records.enumerated() {
                switch record.type {
                case .tagData: continue
                case .file:
                    let file = try FileRecordCodec.decode(block.records, index: i)
                    if dropFile(file) { changed = true; dropped += 1 } else { keptFiles.append(file) }
                case .profile:
                    if dropProfile(try ProfileField.decode(record, index: i)) { changed = true; dropped += 1 } else { keptOther.append(record) }
                default:
                    keptOther.append(record)
                }
            }
            if !changed {
                newRecords.append(block.records)
            } else {
                // The reference re-encodes the kept files with the current time as record date.
                let records = keptOther + FileRecordCodec.encode(keptFiles, date: now, startIndex: keptOther.count)
                if !records.isEmpty { newRecords.append(records) }
            }
        }
        guard dropped > 0 else { return 0 }
        let before = (height, version)
        do {
            try db.transaction {
                try db.run("DELETE FROM chain_blocks")
                try catalog.removeAll(owner: key.publicKey)
                version += 1
                height = 0
                for records in newRecords { try append(records) }
                try writeHeader()
            }
        } catch {
            (height, version) = before
            throw error
        }
        return dropped
    }

    // MARK: Reading

    /// The latest value of every profile field.
    public func profile() throws -> [UInt16: [UInt8]] {
        var out: [UInt16: [UInt8]] = [:]
        for block in try decodedBlocks() { for f in try block.profileFields() { out[f.field] = f.value } }
        return out
    }

    /// Own files, optionally of one folder.
    public func files(folder: String? = nil) throws -> [FileRecord] {
        try catalog.files(owner: key.publicKey, folder: folder).map(\.file)
    }

    public func file(id: TransferID) throws -> FileRecord? { try catalog.file(owner: key.publicKey, id: id)?.file }
}
