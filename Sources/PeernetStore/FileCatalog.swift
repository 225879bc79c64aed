import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import Synchronization

/// A file listed by someone's blockchain, as the catalog keeps it.
public struct CatalogEntry: Equatable, Sendable {
    public var owner: PublicKey
    public var version: UInt64
    public var block: UInt64
    public var file: FileRecord
    public var ownerNodeID: Hash256 { Hash256.nodeID(of: owner) }
}

/// Search filters of the reference's search API (data.md §6.6).
public struct SearchFilter: Equatable, Sendable {
    public var type: UInt8? = nil
    public var format: UInt16? = nil
    public var dateFrom: Int64? = nil
    public var dateTo: Int64? = nil
    public var sizeMin: UInt64? = nil
    public var sizeMax: UInt64? = nil
    public var owner: Hash256? = nil
    public init() {}

    func accepts(_ e: CatalogEntry) -> Bool {
        if let type, e.file.type != type { return false }
        if let format, e.file.format != format { return false }
        if dateFrom != nil || dateTo != nil {
            guard let d = e.file.dateShared else { return false }
            if let dateFrom, d < dateFrom { return false }
            if let dateTo, d > dateTo { return false }
        }
        if let sizeMin, e.file.size < sizeMin { return false }
        if let sizeMax, e.file.size > sizeMax { return false }
        if let owner, e.ownerNodeID != owner { return false }
        return true
    }
}

/// Sort orders of the reference's search API (codes 0-10).
public enum SearchSort: Int, Sendable, CaseIterable {
    case none = 0, relevanceAscending, relevanceDescending, dateAscending, dateDescending
    case nameAscending, nameDescending, sizeAscending, sizeDescending, sharedByAscending, sharedByDescending

    func sort(_ results: inout [SearchResult]) {
        func date(_ r: SearchResult) -> Int64 { r.entry.file.dateShared ?? 0 }
        switch self {
        case .none: break
        case .relevanceAscending, .dateAscending: results.sort { date($0) < date($1) }
        case .relevanceDescending, .dateDescending: results.sort { date($0) > date($1) }
        case .nameAscending: results.sort { Array($0.entry.file.name.utf8).lexicographicallyPrecedes(Array($1.entry.file.name.utf8)) }
        case .nameDescending: results.sort { Array($1.entry.file.name.utf8).lexicographicallyPrecedes(Array($0.entry.file.name.utf8)) }
        case .sizeAscending: results.sort { $0.entry.file.size < $1.entry.file.size }
        case .sizeDescending: results.sort { $0.entry.file.size > $1.entry.file.size }
        case .sharedByAscending: results.sort { $0.sharedBy < $1.sharedBy }
        case .sharedByDescending: results.sort { $0.sharedBy > $1.sharedBy }
        }
    }
}

/// One search hit: the file and the words that found it.
public struct SearchResult: Equatable, Sendable {
    public var entry: CatalogEntry
    /// The matching words; `exactMatch` when the whole term matched.
    public var words: [String]
    public var exactMatch: Bool
    /// How many owners list a file with this hash (in the local catalog).
    public var sharedBy: Int
}

/// The catalog of files from the user's own chain and cached remote chains, with the keyword
/// index (word key -> files) the reference keeps (data.md §6.4), in SQLite tables that change
/// in the same transaction as the blocks they come from.
public final class FileCatalog: @unchecked Sendable {
    let db: SQLiteDatabase
    /// Owners' keys by their stored (compressed) bytes. Parsing one takes a square root in
    /// secp256k1 (~5 µs), and every row of a listing carries its owner: listing a 10,000-file
    /// chain parsed the same key 10,000 times (perf: a third of a busy drive's CPU).
    private let owners = Mutex<[[UInt8]: PublicKey]>([:])

    init(db: SQLiteDatabase) throws {
        self.db = db
        try migrateToFileNumbers()
        try db.execute(Self.filesTable + """

        CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
        CREATE INDEX IF NOT EXISTS files_folder ON files(owner, folder);
        CREATE INDEX IF NOT EXISTS files_date ON files(date_shared);
        """ + Self.wordsTable + """
        CREATE TABLE IF NOT EXISTS catalog_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        """)
        try reindexWordsIfNeeded()
    }

    /// The files: one row per file of every owner, numbered (`n`) for the word index.
    static let filesTable = """
        CREATE TABLE IF NOT EXISTS files (
            n INTEGER PRIMARY KEY,
            owner BLOB NOT NULL, id BLOB NOT NULL, version INTEGER NOT NULL, block INTEGER NOT NULL,
            hash BLOB NOT NULL, name TEXT NOT NULL, folder TEXT NOT NULL, size INTEGER NOT NULL,
            type INTEGER NOT NULL, format INTEGER NOT NULL, date_shared INTEGER NOT NULL, record BLOB NOT NULL,
            node_id BLOB NOT NULL,
            UNIQUE (owner, id));

        """

    /// The word index: a row per word of a file, keyed by the word's key (`wordKey`).
    static let wordsTable = """
        CREATE TABLE IF NOT EXISTS words (
            word INTEGER NOT NULL, n INTEGER NOT NULL, text TEXT NOT NULL,
            PRIMARY KEY (word, n)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS words_file ON words(n);
        CREATE INDEX IF NOT EXISTS words_text ON words(text);

        """

    /// A word's key in the index: a 64-bit hash of its normalized text (FNV-1a, then a
    /// SplitMix64 finalizer to spread it). Keys were the word's 32-byte BLAKE3 hash: every
    /// index step a 32-byte compare, rows twice as large, and a BLAKE3 per word; indexing a
    /// synced chain spent most of its time there (callgrind). A collision (about 3 in 100
    /// million among a million distinct words, or one made on purpose) only adds a file to
    /// another word's results, which any peer can do by naming a file with that word.
    static func wordKey(_ text: String) -> SQLValue {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return .integer(Int64(bitPattern: h))
    }

    /// Word rows name their file by its number (`files.n`), not by owner key and file ID: 81
    /// bytes of key in the word index and in both of its secondary indexes became ~36, and
    /// indexing a synced chain spent most of its time comparing those keys (perf:
    /// sqlite3BtreeIndexMoveto and memcmp). A catalog of the older layout is converted once:
    /// its files are copied, its words rebuilt from the stored records.
    private func migrateToFileNumbers() throws {
        let hasFiles = try db.query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'files'").first?.first?.int ?? 0
        let numbered = try db.query("SELECT count(*) FROM pragma_table_info('files') WHERE name = 'n'").first?.first?.int ?? 0
        guard hasFiles > 0, numbered == 0 else { return }
        try db.transaction {
            try db.execute("""
            DROP INDEX IF EXISTS files_hash; DROP INDEX IF EXISTS files_folder; DROP INDEX IF EXISTS files_date;
            DROP INDEX IF EXISTS words_owner; DROP INDEX IF EXISTS words_text;
            DROP TABLE IF EXISTS words;
            ALTER TABLE files RENAME TO files_unnumbered;
            """ + Self.filesTable + """
            INSERT INTO files (owner, id, version, block, hash, name, folder, size, type, format, date_shared, record, node_id)
                SELECT owner, id, version, block, hash, name, folder, size, type, format, date_shared, record, node_id FROM files_unnumbered;
            DROP TABLE files_unnumbered;
            DELETE FROM catalog_meta WHERE key = 'words';
            """)
        }
    }

    /// The word index's format: 2 added file extensions ("mp4"); 3 names files by number; 4
    /// keys words by an integer; 5 by a hash of the text (`wordKey`). An older index is rebuilt
    /// once from the stored records.
    static let wordIndexVersion: Int64 = 5

    private func reindexWordsIfNeeded() throws {
        let current = try db.query("SELECT value FROM catalog_meta WHERE key = 'words'").first?.first?.int ?? 0
        guard current < Self.wordIndexVersion else { return }
        try db.transaction {
            try db.execute("DROP TABLE IF EXISTS words;\n" + Self.wordsTable)
            for row in try db.query("SELECT n, record FROM files") {
                guard let f = try? FileRecordCodec.decode([BlockRecord(type: .file, date: 0, data: row[1].bytes)], index: 0) else { continue }
                try indexWords(of: f, file: row[0])
            }
            try db.run("INSERT OR REPLACE INTO catalog_meta VALUES ('words', ?)", [.integer(Self.wordIndexVersion)])
        }
    }

    /// Adds (or replaces) the files of one block.
    /// (package: the benchmark indexes a million files without signing chains for them.)
    package func add(_ files: [FileRecord], owner: PublicKey, version: UInt64, block: UInt64) throws {
        let ownerBytes = SQLValue.blob(owner.compressed)
        let nodeID = SQLValue.blob(Hash256.nodeID(of: owner).bytes)
        for f in files {
            let row: [SQLValue] = [
                ownerBytes, .blob(f.id.bytes), .integer(Int64(bitPattern: version)), .integer(Int64(bitPattern: block)),
                .blob(f.hash.bytes), .text(f.name), .text(f.folder), .integer(Int64(bitPattern: f.size)), .integer(Int64(f.type)),
                .integer(Int64(f.format)), .integer(f.dateShared ?? 0), .blob(FileRecordCodec.encodeStandalone(f)), nodeID,
            ]
            // A file new to this owner (the usual case when a chain is synced) is one insert;
            // only when its ID is listed already are the old row and its words replaced. (A
            // lookup before every insert was a fifth of a sync's catalog work, callgrind.)
            var number = try db.query(Self.insertFile + " ON CONFLICT (owner, id) DO NOTHING RETURNING n", row).first?.first
            if number == nil, let old = try db.query("SELECT n FROM files WHERE owner = ? AND id = ?", [ownerBytes, .blob(f.id.bytes)]).first?.first {
                try db.run("DELETE FROM words WHERE n = ?", [old])
                try db.run("DELETE FROM files WHERE n = ?", [old])
                number = try db.query(Self.insertFile + " RETURNING n", row).first?.first
            }
            guard let number else { throw SQLiteError(code: 0, message: "no file number returned") }
            try indexWords(of: f, file: number)
        }
    }

    static let insertFile = """
        INSERT INTO files (owner, id, version, block, hash, name, folder, size, type, format, date_shared, record, node_id)
        VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
        """

    /// Word rows per INSERT statement: one statement for a file's words (up to this many)
    /// instead of one per word. Each execution has a fixed cost (statement lookup, lock,
    /// bindings, VdbeHalt), and a synced chain's files have ~10 words each.
    static let wordsPerInsert = 64

    /// The keyword index rows of one file. The raw tag bytes are indexed: sanitising drops
    /// invalid UTF-8 as the reference does.
    private func indexWords(of f: FileRecord, file: SQLValue) throws {
        func text(_ type: UInt16) -> String { SearchText.sanitize(f.tag(type)?.data ?? []) }
        let words = Array(SearchText.indexTexts(name: text(FileTag.name), folder: text(FileTag.folder),
                                                description: text(FileTag.description), withExtension: true))
        var start = 0
        while start < words.count {
            let chunk = words[start..<min(words.count, start + Self.wordsPerInsert)]
            var params: [SQLValue] = []
            params.reserveCapacity(chunk.count * 3)
            for w in chunk { params += [Self.wordKey(w), file, .text(w)] }
            try db.run(Self.insertWords(chunk.count), params)
            start += chunk.count
        }
    }

    /// `INSERT OR IGNORE INTO words` of 1...`wordsPerInsert` rows (the texts are made once).
    static func insertWords(_ count: Int) -> String { insertWordsSQL[count - 1] }
    private static let insertWordsSQL: [String] = (1...wordsPerInsert).map { n in
        "INSERT OR IGNORE INTO words VALUES " + Array(repeating: "(?,?,?)", count: n).joined(separator: ",")
    }

    func remove(owner: PublicKey, id: TransferID) throws {
        try db.run("DELETE FROM words WHERE n = (SELECT n FROM files WHERE owner = ? AND id = ?)", [.blob(owner.compressed), .blob(id.bytes)])
        try db.run("DELETE FROM files WHERE owner = ? AND id = ?", [.blob(owner.compressed), .blob(id.bytes)])
    }

    /// Forgets every file of an owner (a chain rewritten or found invalid).
    func removeAll(owner: PublicKey) throws {
        try db.run("DELETE FROM words WHERE n IN (SELECT n FROM files WHERE owner = ?)", [.blob(owner.compressed)])
        try db.run("DELETE FROM files WHERE owner = ?", [.blob(owner.compressed)])
    }

    func owner(_ bytes: [UInt8]) -> PublicKey? {
        if let known = owners.withLock({ $0[bytes] }) { return known }
        guard let key = try? PublicKey(bytes: bytes) else { return nil }
        owners.withLock { table in
            if table.count >= 1024 { table.removeAll(keepingCapacity: true) }
            table[bytes] = key
        }
        return key
    }

    func entry(_ row: [SQLValue]) -> CatalogEntry? {
        guard let owner = owner(row[0].bytes),
              let file = try? FileRecordCodec.decode([BlockRecord(type: .file, date: row[3].int, data: row[4].bytes)], index: 0)
        else { return nil }
        return CatalogEntry(owner: owner, version: UInt64(bitPattern: row[1].int), block: UInt64(bitPattern: row[2].int), file: file)
    }

    static let entryColumns = "owner, version, block, date_shared, record"

    /// Files of an owner, optionally in one folder, by folder then name.
    public func files(owner: PublicKey, folder: String? = nil) throws -> [CatalogEntry] {
        let rows = folder == nil
            ? try db.query("SELECT \(Self.entryColumns) FROM files WHERE owner = ? ORDER BY folder, name", [.blob(owner.compressed)])
            : try db.query("SELECT \(Self.entryColumns) FROM files WHERE owner = ? AND folder = ? ORDER BY name",
                           [.blob(owner.compressed), .text(folder!)])
        return rows.compactMap(entry)
    }

    public func file(owner: PublicKey, id: TransferID) throws -> CatalogEntry? {
        try db.query("SELECT \(Self.entryColumns) FROM files WHERE owner = ? AND id = ?", [.blob(owner.compressed), .blob(id.bytes)])
            .first.flatMap(entry)
    }

    public func files(withHash hash: Hash256) throws -> [CatalogEntry] {
        try db.query("SELECT \(Self.entryColumns) FROM files WHERE hash = ?", [.blob(hash.bytes)]).compactMap(entry)
    }

    public func count(owner: PublicKey? = nil) throws -> Int {
        let rows = owner == nil ? try db.query("SELECT count(*) FROM files")
                                : try db.query("SELECT count(*) FROM files WHERE owner = ?", [.blob(owner!.compressed)])
        return Int(rows.first?.first?.int ?? 0)
    }

    /// The most recently shared files of owners other than `excluding`.
    public func recent(excluding owner: PublicKey, limit: Int) throws -> [SearchResult] {
        try db.query("SELECT \(Self.entryColumns) FROM files WHERE owner != ? ORDER BY date_shared DESC LIMIT ?",
                     [.blob(owner.compressed), .integer(Int64(limit))])
            .compactMap(entry).map { SearchResult(entry: $0, words: [], exactMatch: false, sharedBy: 1) }
    }

    /// Every hash referenced by an owner's files.
    public func hashes(owner: PublicKey) throws -> Set<Hash256> {
        Set(try db.query("SELECT DISTINCT hash FROM files WHERE owner = ?", [.blob(owner.compressed)]).compactMap { Hash256($0[0].bytes) })
    }

    /// Runs a search. A file matches the whole term's key, or (unless exact) any query word,
    /// where a word of 3 or more letters also matches as a prefix ("hol" finds "holiday") and
    /// an extension matches as one ("mp4"). Files matching more of the query words rank first
    /// (several words narrow: all of them above some of them), then the exact term, then the
    /// chosen order. Filtered and sorted in SQL, so only `limit` files are decoded.
    public func search(_ term: SearchTerm, filter: SearchFilter = SearchFilter(), sort: SearchSort = .none,
                       limit: Int = 1000) throws -> [SearchResult] {
        let keys = term.allKeys
        guard !keys.isEmpty, limit > 0 else { return [] }
        // Prefix ranges on the indexed (lower-cased) word text; U+10FFFF sorts after any scalar.
        // The query's words (a one-word query is its own whole term).
        let prefixes = term.isExact ? [] : term.words.isEmpty ? term.exact.map { [$0.word] } ?? [] : term.words.map(\.word)
        let keyList = keys.map { _ in "?" }.joined(separator: ",")
        let keyParams: [SQLValue] = keys.map { Self.wordKey($0.word) }
        // The matching word rows: each once, from the key lookup or (not a key) a prefix range.
        // A UNION ALL of index searches; an OR of them made SQLite dedupe every row (2.7x slower
        // for a common word in a 1,000,000-file catalog).
        var branches = ["SELECT word, n, text FROM words WHERE word IN (\(keyList))"]
        var branchParams = keyParams
        for p in prefixes {
            branches.append("SELECT word, n, text FROM words WHERE text >= ? AND text < ? AND word NOT IN (\(keyList))")
            branchParams += [.text(p), .text(p + "\u{10FFFF}")] + keyParams
        }
        // Score: how many query words matched (each counted once), plus the exact term.
        var scoreParts: [String] = []
        var scoreParams: [SQLValue] = []
        for p in prefixes {
            scoreParts.append("max(CASE WHEN w.text >= ? AND w.text < ? THEN 1 ELSE 0 END)")
            scoreParams += [.text(p), .text(p + "\u{10FFFF}")]
        }
        if let exact = term.exact {
            scoreParts.append("max(CASE WHEN w.word = ? THEN \(max(1, prefixes.count)) ELSE 0 END)")
            scoreParams.append(Self.wordKey(exact.word))
        }
        let score = scoreParts.isEmpty ? "0" : scoreParts.joined(separator: " + ")
        var conditions: [String] = []
        var params: [SQLValue] = []
        if let t = filter.type { conditions.append("f.type = ?"); params.append(.integer(Int64(t))) }
        if let t = filter.format { conditions.append("f.format = ?"); params.append(.integer(Int64(t))) }
        if filter.dateFrom != nil || filter.dateTo != nil { conditions.append("f.date_shared > 0") }
        if let d = filter.dateFrom { conditions.append("f.date_shared >= ?"); params.append(.integer(d)) }
        if let d = filter.dateTo { conditions.append("f.date_shared <= ?"); params.append(.integer(d)) }
        if let v = filter.sizeMin { conditions.append("f.size >= ?"); params.append(.integer(Int64(bitPattern: v))) }
        if let v = filter.sizeMax { conditions.append("f.size <= ?"); params.append(.integer(Int64(bitPattern: v))) }
        if let o = filter.owner { conditions.append("f.node_id = ?"); params.append(.blob(o.bytes)) }
        // How many owners share the hash: counted only for the files returned, unless it is the order.
        let sharedOf = { (file: String) in "(SELECT count(DISTINCT f2.owner) FROM files f2 WHERE f2.hash = \(file).hash)" }
        let sortsByShared = sort == .sharedByAscending || sort == .sharedByDescending
        let orderBy: String
        switch sort {
        case .none: orderBy = "rowid_order"
        case .relevanceAscending, .dateAscending: orderBy = "date_shared ASC"
        case .relevanceDescending, .dateDescending: orderBy = "date_shared DESC"
        case .nameAscending: orderBy = "name ASC"
        case .nameDescending: orderBy = "name DESC"
        case .sizeAscending: orderBy = "size ASC"
        case .sizeDescending: orderBy = "size DESC"
        case .sharedByAscending: orderBy = "shared ASC"
        case .sharedByDescending: orderBy = "shared DESC"
        }
        let order = "ORDER BY score DESC, \(orderBy), name"
        // Key order: the exact key first, then the words (reference order of selectors).
        let keyOrder = "CASE w.word " + keys.enumerated().map { i, _ in "WHEN ? THEN \(i)" }.joined(separator: " ") + " END"
        // The word rows are grouped per file before the join, so each matching file is looked
        // up once, not once per matching word.
        let ranked = """
            SELECT f.owner, f.version, f.block, f.date_shared, f.record, g.words,
                   \(sortsByShared ? sharedOf("f") : "0") AS shared, g.rowid_order, g.score, f.hash, f.name, f.size
            FROM (SELECT w.n,
                         coalesce(group_concat(CASE WHEN w.word IN (\(keyList)) THEN w.text END, char(31)),
                                  group_concat(w.text, char(31))) AS words,
                         coalesce(min(\(keyOrder)), \(keys.count)) AS rowid_order, \(score) AS score
                  FROM (\(branches.joined(separator: " UNION ALL "))) w
                  GROUP BY w.n) g
            JOIN files f ON f.n = g.n
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            \(order) LIMIT ?
            """
        let sql = sortsByShared ? ranked : """
            SELECT owner, version, block, date_shared, record, words, \(sharedOf("t")) AS shared, rowid_order, score, name, size
            FROM (\(ranked)) t \(order)
            """
        // The words reported are the reference's selectors (whole keys that matched); a file
        // found by a prefix only reports the words that matched it.
        let rows = try db.query(sql, keyParams + keyParams + scoreParams + branchParams + params + [.integer(Int64(limit))])
        return rows.compactMap { row in
            guard let e = entry(row) else { return nil }
            let words = row[5].string.split(separator: "\u{1f}").map(String.init)
            let exact = term.exact.map { words.contains($0.word) } ?? false
            return SearchResult(entry: e, words: words, exactMatch: exact, sharedBy: Int(row[6].int))
        }
    }
}
