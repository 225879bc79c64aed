import Foundation
import PeernetSupport
#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar on standard error, drawn only when it is a terminal (pipes and logs
/// get nothing). Shows percent, rate and time left; redraws at most ten times a second.
final class ProgressBar: @unchecked Sendable {
    let label: String
    let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let lock = NSLock()

    init(label: String) {
        self.label = label
        enabled = isatty(2) == 1
    }

    func update(done: UInt64, total: UInt64) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 || (total > 0 && done >= total) else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        let rate = Double(done) / elapsed
        let width = 30
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        var line = "\r\(label.prefix(30)) \(bar) \(String(format: "%3.0f%%", fraction * 100)) \(Self.bytes(rate))/s"
        if total > done && rate > 0 { line += "  ETA \(Self.duration(Double(total - done) / rate))" }
        FileHandle.standardError.write(Data((line + "\u{1b}[K").utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    static func bytes(_ n: Double) -> String { ByteCount.text(n) }

    static func duration(_ s: Double) -> String {
        let t = Int(s)
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
