import ArgumentParser
import Foundation
import PeernetCrypto
import PeernetNode
import PeernetService
import PeernetSupport

/// Exit codes every subcommand uses.
enum Exit {
    /// Bad configuration or arguments the parser could not catch.
    static let config = ExitCode(2)
    /// No running node to talk to.
    static let notRunning = ExitCode(3)
}

extension GlobalOptions {
    /// The configuration: --config, else $XDG_CONFIG_HOME/peernet/config.yaml. Unknown keys are
    /// warned about on stderr; invalid values stop the command with exit code 2.
    func loadConfig() throws -> PeernetConfig {
        let path = config ?? PeernetConfig.defaultPath()
        do {
            let (loaded, warnings) = try PeernetConfig.load(path: path)
            for w in warnings { Output.error("warning: \(w)") }
            return loaded
        } catch {
            Output.error("\(error)")
            throw Exit.config
        }
    }

    var controlPath: String { NodeService.controlPath(dataDirectory) }

    /// Starts the web API if configured and says where; a failure is printed, the node
    /// stopped, and it is exit code 1.
    func startWebAPI(_ service: NodeService, _ config: PeernetConfig) async throws {
        do {
            for e in try await service.startWebAPI(config) {
                Output.line("Web API on \(config.apiUseSSL ? "https" : "http")://\(e)\(config.apiKey == nil ? " (no API key: anyone on this machine can use it)" : "")")
            }
        } catch {
            Output.error("\(error)")
            await service.stop()
            throw ExitCode.failure
        }
    }

    /// Starts the node for `daemon` and `mount`; a failure is printed and is exit code 1.
    func startService(_ config: PeernetConfig) throws -> NodeService {
        // A long-running node never dies of a write to a peer that hung up (a control client,
        // a pipe): those writes fail with EPIPE and are handled where they happen.
        signal(SIGPIPE, SIG_IGN)
        do {
            _ = try NodeService.webAPIConfiguration(config)
            let service = try NodeService(config: config, dataDirectory: dataDirectory, userAgent: PeernetVersion.userAgent)
            for problem in service.store.chainProblems { Output.error("warning: \(problem)") }
            return service
        } catch {
            Output.error("\(error)")
            throw ExitCode.failure
        }
    }

    /// Calls the running node; a missing node is exit code 3 with a hint.
    func callNode(_ command: String, _ arguments: [String: String] = [:]) throws -> Data {
        do {
            return try ControlClient.call(path: controlPath, ControlRequest(command: command, arguments: arguments))
        } catch let error as ControlError {
            Output.error("\(error)")
            if case .notRunning = error { throw Exit.notRunning }
            throw ExitCode.failure
        }
    }
}

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run a Peernet node in the foreground (no mount).",
        discussion: """
        Runs the node until interrupted (Ctrl-C or SIGTERM). Other commands (status, peers, …) \
        talk to it through <data-dir>/control.sock. Settings come from the configuration file; \
        the options below override it. Without configuration the node joins the public network \
        through the reference's root peers and finds LAN peers by broadcast.

        Examples:
          peernet daemon
          peernet daemon --listen 127.0.0.1:7001 --no-root-peers --no-lan-discovery
          peernet daemon --listen 127.0.0.1:7002 --root 02ab…@127.0.0.1:7001
        """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var network: NetworkOptions

    func run() async throws {
        var config = try global.loadConfig()
        try network.apply(to: &config)
        let service = try global.startService(config)
        Output.line("Peernet node running. Peer ID \(service.node.publicKey.hexString)")
        Output.line("Listening on \(service.node.listenEndpoints.map(\.description).joined(separator: ", "))")
        Output.line("Control socket \(service.control.path). Stop with Ctrl-C.")
        try await global.startWebAPI(service, config)
        service.reportIfAlone(after: Double(ProcessInfo.processInfo.environment["PEERNET_ALONE_AFTER"] ?? "") ?? 20, roots: config.seedList, lanDiscovery: config.localDiscovery) { Output.error("warning: \($0)") }
        await SignalWaiter.wait(for: [SIGINT, SIGTERM])
        Output.line("Stopping…")
        await service.stop()
    }
}

/// The network options of `daemon` and `mount`: they override the configuration for one run.
struct NetworkOptions: ParsableArguments {
    @Option(name: .customLong("listen"), help: ArgumentHelp("Listen address (repeatable), e.g. 127.0.0.1:7001.", valueName: "ip:port"))
    var listen: [String] = []
    @Option(name: .customLong("root"), help: ArgumentHelp("Root peer as PEERID@IP:PORT (repeatable); replaces the configured list.", valueName: "peer"))
    var roots: [String] = []
    @Flag(name: .customLong("no-root-peers"), help: "Do not contact any root peer.") var noRootPeers = false
    @Flag(name: .customLong("no-lan-discovery"), help: "Do not broadcast or listen for LAN peers.") var noLANDiscovery = false
    @Option(name: .customLong("webapi"), help: ArgumentHelp("Serve the reference's web API (Peernet Browser) on IP:PORT[,IP:PORT…]; loopback only unless --webapi-allow-remote.", valueName: "ip:port"))
    var webAPI: [String] = []
    @Option(name: .customLong("apikey"), help: ArgumentHelp("The web API's key: clients send it in x-api-key (a UUID; the null UUID turns the check off).", valueName: "uuid"))
    var apiKey: String?
    @Flag(name: .customLong("webapi-allow-remote"), help: "Let the web API listen on addresses other machines can reach (set a key too).")
    var webAPIAllowRemote = false

    func apply(to config: inout PeernetConfig) throws {
        if !listen.isEmpty {
            for l in listen where Endpoint(l, defaultPort: 112) == nil {
                Output.error("--listen '\(l)' is not an address; use IP:PORT or [IPv6]:PORT")
                throw Exit.config
            }
            config.listen = listen
        }
        if noRootPeers { config.seedList = [] }
        if !roots.isEmpty {
            config.seedList = try roots.map { text in
                let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
                guard parts.count == 2, (try? PublicKey(hex: parts[0])) != nil, Endpoint(parts[1]) != nil else {
                    Output.error("--root '\(text)' must be PEERID@IP:PORT (66 hex digits, then an address)")
                    throw Exit.config
                }
                return PeernetConfig.SeedEntry(publicKey: parts[0], addresses: [parts[1]])
            }
        }
        if noLANDiscovery { config.localDiscovery = false }
        if !webAPI.isEmpty {
            config.apiListen = webAPI.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            for a in config.apiListen where Endpoint(a) == nil {
                Output.error("--webapi '\(a)' is not an address; use IP:PORT, e.g. 127.0.0.1:8112")
                throw Exit.config
            }
        }
        if let apiKey {
            guard UUID(uuidString: apiKey) != nil else {
                Output.error("--apikey '\(apiKey)' is not a UUID (make one with: cat /proc/sys/kernel/random/uuid)")
                throw Exit.config
            }
            config.apiKey = apiKey
        }
        if webAPIAllowRemote { config.apiAllowRemote = true }
    }

    /// The same options as arguments, for a mount that re-runs itself in the background.
    var arguments: [String] {
        var out: [String] = listen.flatMap { ["--listen", $0] } + roots.flatMap { ["--root", $0] }
        if noRootPeers { out.append("--no-root-peers") }
        if noLANDiscovery { out.append("--no-lan-discovery") }
        out += webAPI.flatMap { ["--webapi", $0] }
        if let apiKey { out += ["--apikey", apiKey] }
        if webAPIAllowRemote { out.append("--webapi-allow-remote") }
        return out
    }
}

/// Waits for one of `signals` (a dedicated dispatch source; the signals are ignored otherwise).
enum SignalWaiter {
    static func wait(for signals: [Int32]) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            install(signals) { if once.take() { continuation.resume() } }
        }
    }

    /// Calls `handler` (on a dispatch queue) for each of `signals`, which are otherwise ignored.
    static func install(_ signals: [Int32], handler: @escaping @Sendable () -> Void) {
        var sources: [DispatchSourceSignal] = []
        for s in signals {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            sources.append(source)
        }
        SignalSources.keep(sources)
    }
}

final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    func take() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if taken { return false }
        taken = true
        return true
    }
}

enum SignalSources {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    static func keep(_ s: [DispatchSourceSignal]) { sources += s }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running node's status.",
        discussion: "Exit code 3 when no node is running for the data directory.\n\nExamples:\n  peernet status\n  peernet status --json"
    )
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print one JSON document.") var json = false

    func run() async throws {
        let data = try global.callNode("status")
        if json { print(String(decoding: data, as: UTF8.self)); return }
        let s = try JSONDecoder().decode(NodeService.Status.self, from: data)
        print("Peer ID:       \(s.peerId)")
        print("Node ID:       \(s.nodeId)")
        print("Listening on:  \(s.listen.joined(separator: ", "))")
        print("Peers:         \(s.peersConnected) connected, \(s.peersKnown) known")
        print("DHT table:     \(s.routingTableSize) nodes")
        print("Uptime:        \(s.uptimeSeconds) s")
        print("Packets:       \(s.statistics.datagramsIn) in, \(s.statistics.packetsOut) out, \(s.statistics.invalidPackets) invalid")
        if let folder = s.shareFolder {
            let pending = s.pending ?? [], failed = s.failed ?? [:]
            print("Share folder:  \(folder): \(s.publishedFiles ?? 0) published, \(pending.count) pending, \(failed.count) failed")
            for p in pending.prefix(10) { print("  pending  \(p)") }
            for (p, why) in failed.sorted(by: { $0.key < $1.key }).prefix(10) { print("  failed   \(p): \(why)") }
        }
    }
}

struct PeersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers",
        abstract: "List the running node's peers.",
        discussion: "Examples:\n  peernet peers\n  peernet peers --json | jq '.[].peerId'"
    )
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print one JSON document: a list of peers.") var json = false

    func run() async throws {
        let data = try global.callNode("peers")
        if json { print(String(decoding: data, as: UTF8.self)); return }
        let peers = try JSONDecoder().decode([PeerInfo].self, from: data)
        if peers.isEmpty { print("No peers yet."); return }
        for p in peers {
            let rtt = p.connections.compactMap(\.rttMilliseconds).min().map { String(format: "%.1f ms", $0) } ?? "-"
            let address = p.connections.first { $0.status != "inactive" }?.remote ?? p.connections.first?.remote ?? "-"
            print("\(p.connected ? "●" : "○") \(p.peerId)  \(address)  rtt \(rtt)  \(p.userAgent.isEmpty ? "?" : p.userAgent)\(p.isRoot ? "  [root]" : "")")
        }
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the effective configuration.",
        subcommands: [Show.self], defaultSubcommand: Show.self
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print the effective configuration as YAML (defaults filled in; the private key hidden).",
            discussion: "Examples:\n  peernet config show\n  peernet config show --config ./test.yaml"
        )
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let config = try global.loadConfig()
            print("# \(global.config ?? PeernetConfig.defaultPath())")
            print(config.yaml(), terminator: "")
        }
    }
}
