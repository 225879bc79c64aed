#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The process's umask, read from /proc: umask(2) can only be read by setting it, which would
/// race with other threads creating files. 022 where /proc does not say.
public enum ProcessUmask {
    public static let value: mode_t = {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Umask:") }),
              let value = mode_t(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8) else { return 0o022 }
        return value
    }()
}
