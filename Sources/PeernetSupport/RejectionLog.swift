import Foundation
import Logging
import Synchronization

/// What a layer refuses from peers (undecodable packets, malformed messages, blocks that fail
/// validation, requests over a cap, damaged content), logged with the reason and the peer,
/// but rate-limited: one line per reason per `interval`, and the next line says how many
/// more there were. A flood of junk must not become a flood of log lines (or fill the disk).
public final class RejectionLog: Sendable {
    /// Distinct reasons tracked; reasons are fixed phrases, so this is never reached in
    /// practice, and past it new reasons are counted but not logged.
    public static let maxReasons = 256

    private struct Window {
        var start: Double
        var suppressed: Int
    }
    private let logger: Logger
    private let interval: Double
    private let level: Logger.Level
    private let windows = Mutex<[String: Window]>([:])

    public init(_ logger: Logger, level: Logger.Level = .info, interval: Double = 10) {
        self.logger = logger
        self.level = level
        self.interval = interval
    }

    /// Logs `reason: detail` unless this reason was logged less than `interval` ago.
    public func reject(_ reason: String, _ detail: @autoclosure () -> String) {
        guard logger.logLevel <= level else { return }
        let now = Date().timeIntervalSinceReferenceDate
        let earlier: Int? = windows.withLock { w in
            if var window = w[reason] {
                guard now - window.start >= interval else {
                    window.suppressed += 1
                    w[reason] = window
                    return nil
                }
                w[reason] = Window(start: now, suppressed: 0)
                return window.suppressed
            }
            guard w.count < Self.maxReasons else { return nil }
            w[reason] = Window(start: now, suppressed: 0)
            return 0
        }
        guard let earlier else { return }
        let more = earlier > 0 ? " (and \(earlier) more like it in the last \(Int(interval)) s or so)" : ""
        logger.log(level: level, "rejected: \(reason): \(detail())\(more)")
    }
}
