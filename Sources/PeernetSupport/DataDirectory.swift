import Foundation

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

    static func expandTilde(_ path: String, _ environment: [String: String]) -> String {
        if path == "~" { return home(environment) }
        if path.hasPrefix("~/") { return home(environment) + String(path.dropFirst(1)) }
        return path
    }

    /// Creates the directory (mode 0700: it holds the private key) if it does not exist.
    public func create() throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    public var path: String { url.path }
}
