import Foundation

/// Named points where a test can make the process die (`PEERNET_CRASH_AT=<name>`), to prove
/// that imports and commits are atomic. Without the variable this is a no-op.
public enum CrashPoint {
    static let target: String? = ProcessInfo.processInfo.environment["PEERNET_CRASH_AT"]

    public static func hit(_ name: String) {
        if let target, target == name { _exit(99) }
    }

    /// A crash by a trap (as a failed precondition crashes), for tests of crash reporting.
    public static func trap(_ name: String) {
        if let target, target == name { fatalError("crash requested by PEERNET_CRASH_AT=\(name)") }
    }
}
