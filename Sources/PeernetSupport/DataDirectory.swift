import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a node keeps its files: identity, databases, warehouse, logs, control socket.
///
/// Resolution order: an explicit `--data-dir`, then `$PEERNET_DATA_DIR`, then
/// `$XDG_DATA_HOME/peernet`, then `~/.local/share/peernet` (XDG Base Directory defaults).
public struct DataDirectory: Sendable, Equatable {
    public let url: URL

    public init(url: URL) { self.url = url.standardizedFileURL }

    /// Resolves the data directory from an explicit path and the environment.
    public static func resolve(explicit: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) -> DataDirectory {
        if let explicit, !explicit.isEmpty { return DataDirectory(url: URL(fileURLWithPath: expandTilde(explicit, environment))) }
        if let env = environment["PEERNET_DATA_DIR"], !env.isEmpty {
            return DataDirectory(url: URL(fileURLWithPath: expandTilde(env, environment)))
        }
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            return DataDirectory(url: URL(fileURLWithPath: xdg).appendingPathComponent("peernet"))
        }
        return DataDirectory(url: URL(fileURLWithPath: home(environment)).appendingPathComponent(".local/share/peernet"))
    }

    static func home(_ environment: [String: String]) -> String {
        if let h = environment["HOME"], !h.isEmpty { return h }
        return NSHomeDirectory()
    }

    /// `~` and `~/…` as a shell expands them (the data directory, and paths in the config).
    public static func expandTilde(_ path: String, _ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if path == "~" { return home(environment) }
        if path.hasPrefix("~/") { return home(environment) + String(path.dropFirst(1)) }
        return path
    }

    /// Creates the directory (mode 0700: it holds the private key, the database and the
    /// caches) if it does not exist. An existing one that others may read or enter is made
    /// 0700, and that is said once on stderr (a 0755 directory left peernet.sqlite and cache/
    /// readable by every user).
    public func create() throws {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw SupportError.dataDirectoryNotADirectory(path: path) }
            tighten()
            return
        }
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    /// Makes an existing data directory of ours 0700 if others could read or enter it.
    public func tighten() {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, st.st_mode & 0o077 != 0, st.st_uid == geteuid() else { return }
        if chmod(path, 0o700) == 0 {
            let note = "peernet: the data directory \(path) was readable by other users (mode \(String(st.st_mode & 0o777, radix: 8))); it is now 0700\n"
            _ = note.withCString { Glibc.write(2, $0, strlen($0)) }
        }
    }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    public var path: String { url.path }
}
