import Foundation
import PeernetCrypto
import PeernetFS
import PeernetNode
import PeernetSupport
import Yams

/// A configuration value that is present but wrong: names the key and what is allowed.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let key: String
    public let problem: String
    public var description: String { "\(file): \(key): \(problem)" }
}

/// The user's configuration (`config.yaml`). Accepts the keys of the reference client's
/// Config.yaml where they apply, so an existing Peernet identity and settings carry over, plus
/// our own in the same style. Unknown keys are reported as warnings, never fatal.
public struct PeernetConfig: Sendable, Equatable {
    /// Listen addresses ("IP:Port", "IP", "[IPv6]:Port"). Empty = all interfaces, port 112
    /// (or any free port when 112 is not available), as the reference does.
    public var listen: [String] = []
    /// Hex private key; when set it is the identity (instead of identity.key in the data dir).
    public var privateKey: String? = nil
    public var seedList: [SeedEntry] = PeernetConfig.defaultSeedList
    public var enableUPnP = true
    public var localFirewall = false
    public var portForward: UInt16 = 0
    public var listenWorkers = 2
    /// Ours: LAN discovery by IPv4 broadcast and IPv6 multicast.
    public var localDiscovery = true
    /// Ours: where `peernet mount` mounts when no mount point is given.
    public var mountPoint: String? = nil
    /// Ours: the on-disk read cache for remote files, in bytes.
    public var cacheSize: UInt64 = 10 << 30
    /// Ours: how long a filesystem read waits for the network before EIO, in seconds.
    public var readTimeout: Double = 30
    /// Ours: debug, info, warning or error.
    public var logLevel = "info"
    /// Ours: the share folder, me/ of the drive (default: <data-dir>/share).
    public var shareFolder: String? = nil
    /// Ours: seconds a file in the share folder stays closed and unchanged before it is published.
    public var publishDelay: Double = 2
    /// Ours: how `peernet mount` provides me/: `link` (me is a symbolic link to the share
    /// folder: local speed; the default), `fuse` (every operation passes the node) or `bind`
    /// (the share folder bound onto me/: local speed; root only; no trash). See
    /// FuseMount.ShareView.
    public var shareView: FuseMount.ShareView = .link
    /// Reference keys we accept and keep (cache limits etc.).
    public var cacheMaxBlockSize: UInt64 = 50_096
    /// Ours keeps 1,024 blocks per peer by default (the reference 256): see CacheLimits.
    public var cacheMaxBlockCount: UInt64 = 1024
    /// The reference's web API: addresses ("IP:PORT"), key (a UUID; the null UUID turns the
    /// check off), TLS, timeouts; and ours: APIAllowRemote to listen beyond loopback.
    public var apiListen: [String] = []
    public var apiKey: String? = nil
    public var apiUseSSL = false
    /// PEM files for APIUseSSL: the certificate chain and its private key (`~` expanded;
    /// relative paths are taken from the working directory, as the reference does).
    public var apiCertificateFile: String? = nil
    public var apiCertificateKey: String? = nil
    public var apiTimeoutRead: Double = 10
    public var apiTimeoutWrite: Double = 600
    public var apiAllowRemote = false

    public struct SeedEntry: Sendable, Equatable {
        public var publicKey: String
        public var addresses: [String]
        public init(publicKey: String, addresses: [String]) {
            self.publicKey = publicKey
            self.addresses = addresses
        }
    }

    public init() {}

    /// The reference's built-in root peers (version 1). Whether they still run is unknown.
    public static let defaultSeedList: [SeedEntry] = [
        SeedEntry(publicKey: "02c490e4252bc7608fd55ddd9d7ca4a488ad152f3da6a6c2e9061f4c7e59f5b7f8",
                  addresses: ["185.254.123.112:112", "[2a0c:1880::112]:112"]),
        SeedEntry(publicKey: "02b270f6fdac85e76df0d2f7374f33a620ede82542ff7cd62d6934b4c069921322",
                  addresses: ["167.99.45.141:112", "[2a03:b0c0:2:d0::af0:e001]:112"]),
        SeedEntry(publicKey: "026836d40a77779b7df5f1a08ca1ef8a83e15edcf0e4d8dc6ed5fc351cb60bd07c",
                  addresses: ["[2a0b:6580::238:112]:112"]),
        SeedEntry(publicKey: "0382728d11096efb211de8a9b7bb90f8e248be5572d4f5449f58a2af881b22dbe9",
                  addresses: ["178.18.241.68:112", "[2a02:c206:2056:9660::1]:112"]),
        SeedEntry(publicKey: "03174f370cb6d6f361d0511565b6b456a82c3d16b53d6b63b227d76a4f0f2abd2c",
                  addresses: ["194.233.66.99:112", "[2407:3640:2057:5241::1]:112"]),
    ]

    static let knownReferenceKeys: Set<String> = [
        "LogFile", "Listen", "ListenWorkers", "ListenWorkersLite", "PrivateKey", "SeedList", "AutoUpdateSeedList",
        "SeedListVersion", "EnableUPnP", "LocalFirewall", "PortForward", "BlockchainMain", "BlockchainGlobal",
        "WarehouseMain", "SearchIndex", "GeoIPDatabase", "CacheMaxBlockSize", "CacheMaxBlockCount", "LogTarget",
        "APIListen", "APIUseSSL", "APICertificateFile", "APICertificateKey", "APITimeoutRead", "APITimeoutWrite",
        "APIKey", "SearchIndexCacheSize", "DataFolder",
    ]
    static let ownKeys: Set<String> = ["LocalDiscovery", "MountPoint", "CacheSize", "ReadTimeout", "LogLevel", "ShareFolder", "PublishDelay", "ShareView",
                                       "APIAllowRemote"]

    /// A Go duration as the reference's config writes it ("10s", "1m30s", "500ms"), or a
    /// number of seconds.
    static func goDuration(_ value: Any) -> Double? {
        if let n = value as? Int { return Double(n) }
        if let d = value as? Double { return d }
        guard let text = value as? String, !text.isEmpty else { return nil }
        var total = 0.0, number = "", i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c.isNumber || c == "." { number.append(c); i = text.index(after: i); continue }
            var unit = String(c)
            i = text.index(after: i)
            if unit == "m" || unit == "u" || unit == "µ" || unit == "n", i < text.endIndex, text[i] == "s" { unit += "s"; i = text.index(after: i) }
            guard let n = Double(number) else { return nil }
            let scale: Double
            switch unit {
            case "h": scale = 3600
            case "m": scale = 60
            case "s": scale = 1
            case "ms": scale = 1e-3
            case "us", "µs": scale = 1e-6
            case "ns": scale = 1e-9
            default: return nil
            }
            total += n * scale
            number = ""
        }
        return number.isEmpty ? total : nil
    }

    /// `$XDG_CONFIG_HOME/peernet/config.yaml`, else `~/.config/peernet/config.yaml`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/peernet/config.yaml" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/peernet/config.yaml"
    }

    /// Loads `path`; a missing file gives the defaults. Returns warnings for unknown keys.
    public static func load(path: String) throws -> (config: PeernetConfig, warnings: [String]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return (PeernetConfig(), []) }
        if isDirectory.boolValue {
            throw ConfigError(file: path, key: "(file)", problem: "is a directory; give the path of a YAML file, e.g. \(path)/config.yaml")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, key: "(file)", problem: "cannot be read (\(String(cString: strerror(errno)))); check its permissions")
        }
        guard data.count <= maxFileBytes else {
            throw ConfigError(file: path, key: "(file)", problem: "is \(data.count) bytes; a configuration is at most \(maxFileBytes) bytes")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, key: "(file)", problem: "is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// A configuration is a few hundred bytes; these bound what a hostile or broken file costs
    /// (a 400-byte YAML alias bomb took 2 GB and 20 s to load).
    static let maxFileBytes = 64 << 10
    static let maxAliases = 16

    public static func parse(_ text: String, file: String = "config.yaml") throws -> (config: PeernetConfig, warnings: [String]) {
        guard text.utf8.count <= maxFileBytes else {
            throw ConfigError(file: file, key: "(file)", problem: "is \(text.utf8.count) bytes; a configuration is at most \(maxFileBytes) bytes")
        }
        // YAML aliases (*name) can expand exponentially; a configuration needs none.
        let aliases = text.split(separator: "\n").reduce(0) { count, line in
            let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            var n = 0
            var previous: Character = " "
            for c in code {
                if c == "*" && (previous == " " || previous == "[" || previous == "," || previous == "{" || previous == ":" || previous == "-") { n += 1 }
                previous = c
            }
            return count + n
        }
        guard aliases <= maxAliases else {
            throw ConfigError(file: file, key: "(file)", problem: "uses \(aliases) YAML aliases; at most \(maxAliases) are accepted (a configuration needs none)")
        }
        let loaded: Any?
        do { loaded = try Yams.load(yaml: text) } catch {
            throw ConfigError(file: file, key: "(file)", problem: "not valid YAML: \(error)")
        }
        var config = PeernetConfig()
        guard let loaded else { return (config, []) }   // empty file: defaults
        guard let map = loaded as? [String: Any] else {
            throw ConfigError(file: file, key: "(file)", problem: "expected a mapping of keys to values")
        }
        var warnings: [String] = []
        func fail(_ key: String, _ problem: String) -> ConfigError { ConfigError(file: file, key: key, problem: problem) }
        func bool(_ key: String) throws -> Bool? {
            guard let v = map[key] else { return nil }
            guard let b = v as? Bool else { throw fail(key, "expected true or false, got \(v)") }
            return b
        }
        func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let v = map[key] else { return nil }
            guard let i = v as? Int, range.contains(i) else { throw fail(key, "expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(v)") }
            return i
        }
        func string(_ key: String) throws -> String? {
            guard let v = map[key] else { return nil }
            if v is NSNull { return nil }
            guard let s = v as? String else { throw fail(key, "expected text, got \(v)") }
            return s
        }
        for key in map.keys.sorted() where !knownReferenceKeys.contains(key) && !ownKeys.contains(key) {
            warnings.append("\(file): unknown key '\(key)' ignored")
        }
        if let v = map["Listen"] {
            guard let list = v as? [Any] else { throw fail("Listen", "expected a list of addresses like \"127.0.0.1:112\" or \"[::1]:112\"") }
            config.listen = try list.map { item in
                guard let s = item as? String, Endpoint(s, defaultPort: 0) != nil else {
                    throw fail("Listen", "'\(item)' is not an address; use \"IP:Port\", \"IP\" or \"[IPv6]:Port\"")
                }
                return s
            }
        }
        if let key = try string("PrivateKey"), !key.isEmpty {
            guard (try? PrivateKey(hex: key)) != nil else { throw fail("PrivateKey", "expected 64 hex digits of a valid secp256k1 key") }
            config.privateKey = key
        }
        if let v = map["SeedList"] {
            if v is NSNull { config.seedList = [] } else {
                guard let list = v as? [Any] else { throw fail("SeedList", "expected a list of {PublicKey, Address} entries") }
                config.seedList = try list.enumerated().map { i, item in
                    guard let entry = item as? [String: Any], let key = entry["PublicKey"] as? String else {
                        throw fail("SeedList[\(i)]", "expected PublicKey (66 hex digits) and Address (a list of \"IP:Port\")")
                    }
                    guard (try? PublicKey(hex: key)) != nil else { throw fail("SeedList[\(i)].PublicKey", "'\(key)' is not a peer ID (66 hex digits)") }
                    let addresses = (entry["Address"] as? [Any] ?? []).map { "\($0)" }
                    for a in addresses where Endpoint(a).map({ $0.port > 0 }) != true {
                        throw fail("SeedList[\(i)].Address", "'\(a)' is not \"IP:Port\" with a port from 1 to 65535")
                    }
                    return SeedEntry(publicKey: key, addresses: addresses)
                }
            }
        }
        if let b = try bool("EnableUPnP") { config.enableUPnP = b }
        if let b = try bool("LocalFirewall") { config.localFirewall = b }
        if let b = try bool("LocalDiscovery") { config.localDiscovery = b }
        if let p = try int("PortForward", 0...65535) { config.portForward = UInt16(p) }
        if let w = try int("ListenWorkers", 0...64) { config.listenWorkers = w == 0 ? 2 : w }
        if let m = try string("MountPoint"), !m.isEmpty { config.mountPoint = m }
        if let c = try int("CacheSize", 0...Int.max) { config.cacheSize = UInt64(c) }
        if let v = map["ReadTimeout"] {
            guard let t = (v as? Double) ?? (v as? Int).map(Double.init), t > 0, t <= 3600 else {
                throw fail("ReadTimeout", "expected seconds from 1 to 3600, got \(v)")
            }
            config.readTimeout = t
        }
        if let l = try string("LogLevel") {
            guard ["debug", "info", "warning", "error"].contains(l) else {
                throw fail("LogLevel", "expected one of debug, info, warning, error; got '\(l)'")
            }
            config.logLevel = l
        }
        if let v = try int("CacheMaxBlockSize", 0...Int.max) { config.cacheMaxBlockSize = UInt64(v) }
        if let v = try int("CacheMaxBlockCount", 0...Int.max) { config.cacheMaxBlockCount = UInt64(v) }
        if let f = try string("ShareFolder"), !f.isEmpty { config.shareFolder = f }
        if let v = map["APIListen"], !(v is NSNull) {
            guard let list = v as? [Any] else { throw fail("APIListen", "expected a list of addresses like \"127.0.0.1:8112\"") }
            config.apiListen = try list.map { item in
                guard let s = item as? String, Endpoint(s) != nil else { throw fail("APIListen", "'\(item)' is not \"IP:Port\"") }
                return s
            }
        }
        if let k = try string("APIKey"), !k.isEmpty {
            guard UUID(uuidString: k) != nil else { throw fail("APIKey", "expected a UUID like 8ae4b5a9-3f2c-4f87-9c39-8d6a1f9e2b71") }
            config.apiKey = k
        }
        if let b = try bool("APIUseSSL") { config.apiUseSSL = b }
        if let f = try string("APICertificateFile"), !f.isEmpty { config.apiCertificateFile = f }
        if let f = try string("APICertificateKey"), !f.isEmpty { config.apiCertificateKey = f }
        if let b = try bool("APIAllowRemote") { config.apiAllowRemote = b }
        for (key, apply) in [("APITimeoutRead", { (t: Double) in config.apiTimeoutRead = t }), ("APITimeoutWrite", { (t: Double) in config.apiTimeoutWrite = t })] {
            guard let v = map[key], !(v is NSNull) else { continue }
            guard let t = Self.goDuration(v), t > 0, t <= 86_400 else { throw fail(key, "expected a duration like \"10s\" or \"10m\", got \(v)") }
            apply(t)
        }
        if let v = try string("ShareView"), !v.isEmpty {
            guard let view = FuseMount.ShareView(rawValue: v) else {
                throw fail("ShareView", "expected fuse, link or bind; got '\(v)'")
            }
            config.shareView = view
        }
        if let v = map["PublishDelay"] {
            guard let t = (v as? Double) ?? (v as? Int).map(Double.init), t >= 0, t <= 3600 else {
                throw fail("PublishDelay", "expected seconds from 0 to 3600, got \(v)")
            }
            config.publishDelay = t
        }
        return (config, warnings)
    }

    /// The share folder for a data directory (`~` expanded).
    public func shareFolderURL(_ data: DataDirectory) -> URL {
        guard let path = shareFolder else { return data.file("share") }
        return URL(fileURLWithPath: DataDirectory.expandTilde(path)).standardizedFileURL
    }

    /// The effective configuration as YAML (for `peernet config show`); the private key is
    /// never printed.
    public func yaml() -> String {
        var lines: [String] = []
        lines.append("Listen: [" + listen.map { "\"\($0)\"" }.joined(separator: ", ") + "]")
        lines.append("PrivateKey: " + (privateKey == nil ? "\"\"  # identity.key in the data directory" : "\"(set, hidden)\""))
        if seedList.isEmpty { lines.append("SeedList: []") } else {
            lines.append("SeedList:")
            for s in seedList {
                lines.append("  - PublicKey: \(s.publicKey)")
                lines.append("    Address: [" + s.addresses.map { "\"\($0)\"" }.joined(separator: ", ") + "]")
            }
        }
        lines.append("EnableUPnP: \(enableUPnP)")
        lines.append("LocalFirewall: \(localFirewall)")
        lines.append("PortForward: \(portForward)")
        lines.append("ListenWorkers: \(listenWorkers)")
        lines.append("LocalDiscovery: \(localDiscovery)")
        lines.append("MountPoint: \"\(mountPoint ?? "")\"")
        lines.append("CacheSize: \(cacheSize)")
        lines.append("ReadTimeout: \(readTimeout)")
        lines.append("LogLevel: \(logLevel)")
        lines.append("CacheMaxBlockSize: \(cacheMaxBlockSize)")
        lines.append("CacheMaxBlockCount: \(cacheMaxBlockCount)")
        lines.append("ShareFolder: \"\(shareFolder ?? "")\"  # empty: <data-dir>/share")
        lines.append("PublishDelay: \(publishDelay)")
        lines.append("ShareView: \(shareView)  # link (me is a link to the share folder: local speed), fuse (every operation passes the node), or bind (root only; no trash)")
        lines.append("APIListen: [" + apiListen.map { "\"\($0)\"" }.joined(separator: ", ") + "]")
        lines.append("APIKey: " + (apiKey == nil ? "\"\"" : "\"(set, hidden)\""))
        lines.append("APIUseSSL: \(apiUseSSL)")
        lines.append("APICertificateFile: \"\(apiCertificateFile ?? "")\"")
        lines.append("APICertificateKey: \"\(apiCertificateKey ?? "")\"")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The node configuration this describes. With an empty `Listen`, the wildcard addresses
    /// on port 112 (the caller falls back to a free port if 112 cannot be bound).
    public func nodeConfig(userAgent: String) -> NodeConfig {
        let endpoints = listen.isEmpty
            ? [Endpoint("0.0.0.0:112")!, Endpoint("[::]:112")!]
            : listen.compactMap { Endpoint($0, defaultPort: 112) }
        var c = NodeConfig(listen: endpoints)
        c.rootPeers = seedList.compactMap { entry in
            guard let key = try? PublicKey(hex: entry.publicKey) else { return nil }
            return RootPeer(publicKey: key, addresses: entry.addresses.compactMap { Endpoint($0) })
        }
        c.localDiscovery = localDiscovery
        c.localFirewall = localFirewall
        c.portForward = portForward
        c.workers = listenWorkers
        c.userAgent = userAgent
        return c
    }
}
