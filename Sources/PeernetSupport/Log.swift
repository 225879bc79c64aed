import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Severity of a log line; `LogLevel` in the configuration picks the lowest one written.
public enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    case debug, info, warning, error

    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: return nil
        }
    }

    public var name: String { ["debug", "info", "warning", "error"][rawValue] }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// The node's log file: timestamped lines appended to `<data-dir>/peernet.log` (rotated to
/// `peernet.log.1` past 8 MiB), from the daemon and the mount. Before `configure` (and in
/// tests, libraries, one-shot commands) nothing is written. Code logs through swift-log's
/// `Logger.peernet(component)`, whose handler (`FileLogHandler`) writes here.
public final class Log: Sendable {
    public static let shared = Log()

    struct State {
        var fd: Int32 = -1
        var path: String?
        var level: LogLevel = .info
        var written: Int = 0
    }
    private let state = Mutex(State())
    static let rotateAt = 8 << 20

    /// Starts writing to `file` (created 0600 if missing) at `level` and above.
    public func configure(file: URL, level: LogLevel) {
        state.withLock { s in
            if s.fd >= 0 { Glibc.close(s.fd) }
            s.fd = open(file.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            s.path = file.path
            s.level = level
            var st = stat()
            s.written = fstat(s.fd, &st) == 0 ? Int(st.st_size) : 0
        }
    }

    /// Stops writing (closes the file).
    public func close() {
        state.withLock { s in
            if s.fd >= 0 { Glibc.close(s.fd) }
            s.fd = -1
        }
    }

    public func isEnabled(_ level: LogLevel) -> Bool { state.withLock { $0.fd >= 0 && level >= $0.level } }

    /// The lowest level written, or nil while no file is open (nothing is written).
    public var level: LogLevel? { state.withLock { $0.fd >= 0 ? $0.level : nil } }

    public func log(_ level: LogLevel, _ component: String, _ message: @autoclosure () -> String) {
        guard isEnabled(level) else { return }
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var tm = tm()
        var seconds = time.tv_sec
        gmtime_r(&seconds, &tm)
        let stamp = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                           tm.tm_hour, tm.tm_min, tm.tm_sec, time.tv_nsec / 1_000_000)
        // One line per entry: newlines in messages (remote names, errors) are escaped.
        let text = message().replacingOccurrences(of: "\n", with: "\\n")
        let line = Array("\(stamp) \(level.name.uppercased()) [\(component)] \(text)\n".utf8)
        state.withLock { s in
            guard s.fd >= 0 else { return }
            if s.written + line.count > Self.rotateAt, let path = s.path {
                rename(path, path + ".1")
                Glibc.close(s.fd)
                s.fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
                s.written = 0
            }
            s.written += line.withUnsafeBytes { max(0, write(s.fd, $0.baseAddress, $0.count)) }
        }
    }

    public func debug(_ component: String, _ message: @autoclosure () -> String) { log(.debug, component, message()) }
    public func info(_ component: String, _ message: @autoclosure () -> String) { log(.info, component, message()) }
    public func warning(_ component: String, _ message: @autoclosure () -> String) { log(.warning, component, message()) }
    public func error(_ component: String, _ message: @autoclosure () -> String) { log(.error, component, message()) }
}
