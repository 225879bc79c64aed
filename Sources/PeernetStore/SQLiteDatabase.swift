import CSQLite
import Foundation

/// A value bound to or read from SQLite.
public enum SQLValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var int: Int64 { if case .integer(let v) = self { return v }; return 0 }
    public var double: Double { if case .real(let v) = self { return v }; if case .integer(let v) = self { return Double(v) }; return 0 }
    public var string: String { if case .text(let v) = self { return v }; return "" }
    public var bytes: [UInt8] {
        switch self {
        case .blob(let b): return b
        case .text(let t): return Array(t.utf8)
        default: return []
        }
    }
    public var isNull: Bool { self == .null }
}

public struct SQLiteError: Error, CustomStringConvertible, Equatable {
    public let code: Int32
    public let message: String
    public var description: String { "database error \(code): \(message)" }
}

/// A thin, serialised wrapper over one SQLite connection: WAL journal, prepared-statement
/// cache, and transactions. All access goes through one lock, so one instance may be shared
/// by the node's threads; each change is one transaction.
public final class SQLiteDatabase: @unchecked Sendable {
    private var db: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    private let lock = NSRecursiveLock()
    private var transactionDepth = 0
    public let path: String

    public init(path: String) throws {
        self.path = path
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(handle)
            throw SQLiteError(code: rc, message: "\(path): \(message)")
        }
        db = handle
        sqlite3_busy_timeout(handle, 10_000)
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA synchronous = NORMAL")
        try execute("PRAGMA foreign_keys = ON")
        // A 32 MiB page cache and reads through a memory map: with SQLite's 2 MB default, a
        // 10,000-file chain sync spent half its time in pread and pwrite of the word index's
        // pages (perf). Both are bounds, not allocations: a small store uses little.
        try execute("PRAGMA cache_size = -32768")
        try execute("PRAGMA mmap_size = 268435456")
        try execute("PRAGMA temp_store = MEMORY")
    }

    deinit { close() }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        for (_, s) in statements { sqlite3_finalize(s) }
        statements = [:]
        if let db { sqlite3_close_v2(db) }
        db = nil
    }

    private func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: db.map { String(cString: sqlite3_errmsg($0)) } ?? "closed")
    }

    /// Runs SQL without results (may hold several statements).
    public func execute(_ sql: String) throws {
        lock.lock()
        defer { lock.unlock() }
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    private func statement(_ sql: String) throws -> OpaquePointer {
        if let s = statements[sql] { return s }
        var s: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &s, nil)
        guard rc == SQLITE_OK, let s else { throw error(rc) }
        statements[sql] = s
        return s
    }

    private func bind(_ s: OpaquePointer, _ params: [SQLValue]) throws {
        for (i, p) in params.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch p {
            case .null: rc = sqlite3_bind_null(s, index)
            case .integer(let v): rc = sqlite3_bind_int64(s, index, v)
            case .real(let v): rc = sqlite3_bind_double(s, index, v)
            case .text(let v): rc = sqlite3_bind_text(s, index, v, -1, peernet_sqlite_transient())
            case .blob(let v):
                rc = v.withUnsafeBytes { raw in
                    sqlite3_bind_blob(s, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), peernet_sqlite_transient())
                }
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
    }

    /// Runs one statement; returns the number of changed rows.
    @discardableResult
    public func run(_ sql: String, _ params: [SQLValue] = []) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        let s = try statement(sql)
        defer { sqlite3_reset(s); sqlite3_clear_bindings(s) }
        try bind(s, params)
        var rc = sqlite3_step(s)
        while rc == SQLITE_ROW { rc = sqlite3_step(s) }
        guard rc == SQLITE_DONE else { throw error(rc) }
        return Int(sqlite3_changes(db))
    }

    /// Runs a query and returns its rows.
    public func query(_ sql: String, _ params: [SQLValue] = []) throws -> [[SQLValue]] {
        lock.lock()
        defer { lock.unlock() }
        let s = try statement(sql)
        defer { sqlite3_reset(s); sqlite3_clear_bindings(s) }
        try bind(s, params)
        var rows: [[SQLValue]] = []
        let columns = sqlite3_column_count(s)
        while true {
            let rc = sqlite3_step(s)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc) }
            var row: [SQLValue] = []
            row.reserveCapacity(Int(columns))
            for c in 0..<columns {
                switch sqlite3_column_type(s, c) {
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(s, c)))
                case SQLITE_FLOAT: row.append(.real(sqlite3_column_double(s, c)))
                case SQLITE_TEXT: row.append(.text(String(cString: sqlite3_column_text(s, c))))
                case SQLITE_BLOB:
                    let n = Int(sqlite3_column_bytes(s, c))
                    if n > 0, let p = sqlite3_column_blob(s, c) {
                        row.append(.blob(Array(UnsafeRawBufferPointer(start: p, count: n))))
                    } else {
                        row.append(.blob([]))
                    }
                default: row.append(.null)
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs `body` in one transaction (BEGIN IMMEDIATE ... COMMIT), rolled back if it throws.
    /// A nested call is a savepoint: if it throws, only its own changes are undone.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        if transactionDepth > 0 {
            let name = "sp\(transactionDepth)"
            try execute("SAVEPOINT \(name)")
            transactionDepth += 1
            defer { transactionDepth -= 1 }
            do {
                let result = try body()
                try execute("RELEASE \(name)")
                return result
            } catch {
                try? execute("ROLLBACK TO \(name)")
                try? execute("RELEASE \(name)")
                throw error
            }
        }
        try execute("BEGIN IMMEDIATE")
        transactionDepth = 1
        defer { transactionDepth = 0 }
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}
