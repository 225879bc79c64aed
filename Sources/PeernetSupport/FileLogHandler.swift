import Logging

/// swift-log is the logging API of every layer (`Logger`); this is its one handler: lines in
/// `<data-dir>/peernet.log` through `Log.shared`, which owns the file, its rotation and the
/// level from the configuration. Until the daemon or the mount opens that file (in tests,
/// libraries and one-shot commands) nothing is written: a library must not print on its
/// caller's terminal, which swift-log's default stderr handler would.
public struct FileLogHandler: LogHandler {
    let component: String
    public var metadata: Logger.Metadata = [:]

    public init(component: String) { self.component = component }

    /// The file's level, so that messages below it are never even built.
    public var logLevel: Logger.Level {
        get { Log.shared.level.map(Logger.Level.init) ?? .critical }
        set {}
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var text = "\(event.message)"
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        if !all.isEmpty { text += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        Log.shared.log(LogLevel(event.level), component, text)
    }
}

extension Logger {
    /// The logger of one component ("node", "exchange", "store", "share", …), writing to
    /// peernet.log whatever the process bootstrapped.
    public static func peernet(_ component: String) -> Logger {
        Logger(label: "peernet.\(component)") { _ in FileLogHandler(component: component) }
    }
}

extension Logger.Level {
    init(_ level: LogLevel) {
        switch level {
        case .debug: self = .debug
        case .info: self = .info
        case .warning: self = .warning
        case .error: self = .error
        }
    }
}

extension LogLevel {
    init(_ level: Logger.Level) {
        switch level {
        case .trace, .debug: self = .debug
        case .info, .notice: self = .info
        case .warning: self = .warning
        case .error, .critical: self = .error
        }
    }
}
