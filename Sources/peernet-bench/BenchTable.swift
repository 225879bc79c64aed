import Foundation
import Synchronization

/// One line of the benchmark table: a figure, and the baseline it should be read against.
struct BenchRow: Codable {
    let group: String
    let name: String
    let value: Double
    let unit: String
    var baselineName: String? = nil
    var baselineValue: Double? = nil

    var ratio: String {
        guard let b = baselineValue, b > 0 else { return "" }
        return String(format: "%.2fx", value / b)
    }
}

/// Collects rows and prints them as an aligned text table.
final class BenchTable {
    private(set) var rows: [BenchRow] = []

    func add(_ row: BenchRow, announce: Bool = true) {
        rows.append(row)
        // Progress on stderr so a long run shows life; the table goes to stdout at the end.
        if announce {
            FileHandle.standardError.write(Data("  measured \(row.group) / \(row.name): \(Self.format(row.value)) \(row.unit)\(row.baselineValue.map { " (baseline \(Self.format($0)))" } ?? "")\n".utf8))
        }
    }

    func render() -> String {
        let header = ["group", "measurement", "value", "unit", "baseline (same run)", "baseline", "ratio"]
        var lines: [[String]] = [header]
        for r in rows {
            lines.append([r.group, r.name, Self.format(r.value), r.unit, r.baselineName ?? "",
                          r.baselineValue.map(Self.format) ?? "", r.ratio])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for l in lines { for (i, c) in l.enumerated() { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for (n, l) in lines.enumerated() {
            let cells = l.enumerated().map { i, c in
                i == 2 || i == 5 || i == 6 ? String(repeating: " ", count: widths[i] - c.count) + c
                                          : c + String(repeating: " ", count: widths[i] - c.count)
            }
            out += cells.joined(separator: "  ") + "\n"
            if n == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        return out
    }

    static func format(_ v: Double) -> String {
        if v >= 100 { return String(format: "%.0f", v) }
        if v >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.2f", v)
    }
}

/// Timing helpers: run a body repeatedly for at least `minimum` seconds and report the best rate.
enum Timer {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Best seconds per call over `rounds` rounds, each of `iterations` calls.
    static func bestSecondsPerCall(rounds: Int = 5, iterations: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<rounds {
            let start = now()
            for _ in 0..<iterations { body() }
            best = min(best, (now() - start) / Double(iterations))
        }
        return best
    }

    /// Best wall time of running a command, in seconds (nil if it is not installed).
    static func bestCommandSeconds(_ path: String, _ args: [String], rounds: Int = 3) -> Double? {
        guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
        var best = Double.infinity
        for _ in 0..<rounds {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = args
            p.standardOutput = FileHandle.nullDevice
            let start = now()
            guard (try? p.run()) != nil else { return nil }
            p.waitUntilExit()
            // A failed command measured nothing: no figure (a dd that could not open its file
            // once printed as a 5 GB/s read).
            guard p.terminationStatus == 0 else { return nil }
            best = min(best, now() - start)
        }
        return best
    }
}

/// Keeps the optimiser from deleting benchmarked work.
@inline(never) func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

/// Runs async work from the synchronous benchmark driver: the calling thread (not one of the
/// Swift pool's few threads) waits, so blocking measurements can run beside it.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let result = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let r = await body()
        result.withLock { $0 = r }
        done.signal()
    }
    done.wait()
    return result.withLock { $0! }
}
