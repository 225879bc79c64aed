import CLinuxCalls
import Foundation
import PeernetCrypto
import PeernetExchange
import PeernetNode
import PeernetStore
import PeernetBlockchain
import PeernetProtocol
import PeernetSupport
import PeernetWebAPI
import Synchronization
import Logging

private let nodeLog = Logger.peernet("node")

/// A running node with its control channel: what `peernet daemon` and `peernet mount` run.
public final class NodeService: Sendable {
    public let node: Node
    public let store: LocalStore
    public let exchange: BlockExchange
    public let search: NetworkSearch
    public let downloader: FileDownloader
    public let publisher: SharePublisher
    /// Everything above, wired once (the composition root).
    public let runtime: PeernetRuntime
    public let control: ControlServer
    public let dataDirectory: DataDirectory
    let started = Date()
    /// The reference's web API, when APIListen asks for it (`startWebAPI`).
    let webAPI = Mutex<WebAPIServer?>(nil)

    public static func controlPath(_ data: DataDirectory) -> String { data.file("control.sock").path }

    /// Loads the identity (the config's PrivateKey, else identity.key, created if missing),
    /// binds the listen addresses (port 112 falls back to a free port, as in the reference),
    /// opens the control socket and starts the node.
    public init(config: PeernetConfig, dataDirectory: DataDirectory, userAgent: String) throws {
        try dataDirectory.create()
        let key: PrivateKey
        if let hex = config.privateKey {
            key = try PrivateKey(hex: hex)
        } else {
            key = try IdentityStore(dataDirectory: dataDirectory).loadOrCreate().key
        }
        Log.shared.configure(file: dataDirectory.file("peernet.log"), level: LogLevel(name: config.logLevel) ?? .info)
        peernet_install_crash_log(dataDirectory.file("peernet.log").path)
        CrashPoint.trap("node-started")
        var limits = CacheLimits()
        limits.maxBlockSize = config.cacheMaxBlockSize
        limits.maxBlocksPerPeer = config.cacheMaxBlockCount
        let store = try LocalStore(dataDirectory: dataDirectory, key: key, cacheLimits: limits, downloadCacheBytes: config.cacheSize)
        self.store = store
        var nodeConfig = config.nodeConfig(userAgent: userAgent)
        let node: Node
        do {
            node = try Node(key: key, config: nodeConfig)
        } catch let error as SocketError where config.listen.isEmpty {
            // Port 112 needs privileges or may be taken: any free port (the reference does the same).
            _ = error
            nodeConfig.listen = nodeConfig.listen.map { Endpoint(ip: $0.ip, port: 0) }
            node = try Node(key: key, config: nodeConfig)
        }
        self.node = node
        self.dataDirectory = dataDirectory
        let startedAt = Date()
        let jobs = ShareJobs()
        let downloadJobs = DownloadJobs()
        var options = PeernetRuntime.Options()
        options.shareFolder = config.shareFolderURL(dataDirectory)
        options.publishing.settle = config.publishDelay
        let runtime = try PeernetRuntime(store: store, node: node, options: options)
        let searchJobs = SearchJobs(search: runtime.search)
        self.runtime = runtime
        exchange = runtime.exchange
        search = runtime.search
        downloader = runtime.downloader
        publisher = runtime.publisher
        control = try ControlServer(path: Self.controlPath(dataDirectory)) { request in
            try await NodeService.handle(request, runtime: runtime, jobs: jobs, searchJobs: searchJobs, downloadJobs: downloadJobs,
                                         started: startedAt)
        }
        runtime.start()
        // Keyword records of what we already share (they may have expired while we were away).
        Task { [search] in
            try? await Task.sleep(for: .seconds(5))
            await search.publishAll()
        }
        control.start()
        nodeLog.info("started: peer ID \(node.publicKey.hexString), listening on \(node.listenEndpoints.map { "\($0)" }.joined(separator: ", ")), \(config.seedList.count) root peers, LAN discovery \(config.localDiscovery ? "on" : "off")")
    }

    /// After `seconds`, says (through `report`, and in the log) when no peer has answered: which
    /// root peers were tried and what to do. A node that is offline used to say nothing.
    public func reportIfAlone(after seconds: Double, roots: [PeernetConfig.SeedEntry], lanDiscovery: Bool,
                              report: @escaping @Sendable (String) -> Void) {
        let node = self.node
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            guard !node.peers().contains(where: \.connected) else { return }
            var lines: [String]
            if roots.isEmpty && !lanDiscovery {
                lines = ["no peers: no root peers are configured and LAN discovery is off, so this node only meets peers that contact it (--root PEERID@IP:PORT adds one)"]
            } else {
                let tried = roots.flatMap(\.addresses).prefix(8).joined(separator: ", ")
                lines = ["no peer answered within \(Int(seconds)) s" + (roots.isEmpty ? "" : "; root peers tried: \(tried)")
                         + (lanDiscovery ? "; LAN discovery found nobody" : ""),
                         "check that UDP can leave this machine (port 112 and the listen port), or add a peer you know with --root PEERID@IP:PORT; the node keeps trying"]
            }
            for line in lines {
                nodeLog.warning("\(line)")
                report(line)
            }
        }
    }

    /// The web API's settings from the configuration, checked (nil when APIListen is empty):
    /// addresses must be well formed, and loopback unless allowed; with APIUseSSL, both PEM
    /// files must be set, readable and fit each other. Checked before the node starts, so a
    /// refused setting starts nothing.
    public static func webAPIConfiguration(_ config: PeernetConfig) throws -> WebAPIConfiguration? {
        guard !config.apiListen.isEmpty else { return nil }
        var tls: WebAPIConfiguration.TLSFiles?
        if config.apiUseSSL {
            guard let certificate = config.apiCertificateFile, let key = config.apiCertificateKey else {
                throw WebAPIConfiguration.Problem.tls("APIUseSSL is true, but \(config.apiCertificateFile == nil ? "APICertificateFile" : "APICertificateKey") is not set; set both to PEM files (certificate and private key), or set APIUseSSL: false")
            }
            tls = .init(certificateFile: DataDirectory.expandTilde(certificate), keyFile: DataDirectory.expandTilde(key))
        }
        let configuration = WebAPIConfiguration(listen: config.apiListen, apiKey: config.apiKey.flatMap { UUID(uuidString: $0) } ?? WebAPIConfiguration.nullKey,
                                                allowRemote: config.apiAllowRemote, readTimeout: config.apiTimeoutRead, writeTimeout: config.apiTimeoutWrite,
                                                tls: tls)
        _ = try configuration.endpoints()
        _ = try configuration.tls?.serverConfiguration()
        return configuration
    }

    /// Starts the web API on APIListen (nothing when empty); returns the bound addresses.
    /// Refused with a reason: unusable TLS files, a malformed address, a non-loopback
    /// address without APIAllowRemote. /shutdown stops the process as SIGTERM would.
    public func startWebAPI(_ config: PeernetConfig) async throws -> [Endpoint] {
        guard let configuration = try Self.webAPIConfiguration(config) else { return [] }
        let server = WebAPIServer(runtime: runtime, configuration: configuration) { kill(getpid(), SIGTERM) }
        try await server.start()
        webAPI.withLock { $0 = server }
        let bound = server.boundEndpoints.withLock { $0 }
        for e in bound where !e.ip.isLoopback { nodeLog.warning("the web API listens on \(e), reachable from other machines") }
        return bound
    }

    public func stop() async {
        nodeLog.info("stopping")
        if let api = webAPI.withLock({ $0 }) { await api.stop() }
        control.stop()
        await runtime.stop()
    }

    /// The status document of `peernet status --json`.
    public struct Status: Codable, Sendable {
        public let peerId: String
        public let nodeId: String
        public let userAgent: String
        public let listen: [String]
        public let peersConnected: Int
        public let peersKnown: Int
        public let routingTableSize: Int
        public let uptimeSeconds: Int
        public let statistics: NodeStatistics
        /// The share folder and its publishing backlog.
        public let shareFolder: String?
        public let publishedFiles: Int?
        public let pending: [String]?
        public let failed: [String: String]?
    }

    static func handle(_ request: ControlRequest, runtime: PeernetRuntime, jobs: ShareJobs, searchJobs: SearchJobs,
                       downloadJobs: DownloadJobs, started: Date) async throws -> Data {
        let node = runtime.node, store = runtime.store
        let downloader: FileDownloader? = runtime.downloader
        func publish() { runtime.exchange.publishChainState() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        switch request.command {
        case "status":
            let peers = node.peers()
            let backlog = runtime.publisher.backlog()
            return try encoder.encode(Status(
                peerId: node.publicKey.hexString, nodeId: node.nodeID.hex, userAgent: node.config.userAgent,
                listen: node.listenEndpoints.map(\.description), peersConnected: peers.filter(\.connected).count,
                peersKnown: peers.count, routingTableSize: node.routingTableSize,
                uptimeSeconds: Int(Date().timeIntervalSince(started)), statistics: node.statistics,
                shareFolder: runtime.publisher.folder.path, publishedFiles: (try? store.chain.files().count) ?? 0,
                pending: backlog.pending.prefix(100).map(\.description),
                failed: Dictionary(backlog.failed.prefix(100).map { ($0.0.description, $0.1) }, uniquingKeysWith: { a, _ in a })))
        case "peers":
            return try encoder.encode(node.peers())
        case "contact":
            guard let key = request.arguments["peerId"].flatMap({ try? PublicKey(hex: $0) }),
                  let address = request.arguments["address"].flatMap({ Endpoint($0) }) else {
                throw ControlError.remote("contact needs peerId (66 hex digits) and address (IP:Port)")
            }
            node.contact(key, at: [address])
            return Data("true".utf8)
        case "share":
            let paths = (request.arguments["paths"] ?? "").split(separator: "\n").map(String.init)
            let job = request.arguments["job"] ?? ""
            defer { jobs.progress.withLock { $0[job] = nil } }
            // Copied into the share folder and published there (announced by the runtime).
            let shared = try StoreActions.share(runtime.publisher, paths: paths, folder: request.arguments["folder"] ?? "",
                                                name: request.arguments["name"], description: request.arguments["description"] ?? "") { done, total in
                jobs.progress.withLock { $0[job] = [done, total] }
            }
            return try encoder.encode(shared)
        case "progress":
            let p = jobs.progress.withLock { $0[request.arguments["job"] ?? ""] } ?? []
            return try encoder.encode(p)
        case "unshare":
            let removed = try StoreActions.unshare(runtime.publisher, targets: (request.arguments["targets"] ?? "").split(separator: "\n").map(String.init))
            return try encoder.encode(removed)
        case "search.start":
            var filter = SearchFilter()
            if let t = request.arguments["type"] { filter.type = SearchOptions.type(t) }
            let sort = SearchOptions.sorts[request.arguments["sort"] ?? "none"] ?? .none
            guard let id = searchJobs.start(request.arguments["term"] ?? "", filter: filter, sort: sort,
                                            limit: Int(request.arguments["limit"] ?? "") ?? 200,
                                            timeout: Double(request.arguments["timeout"] ?? "") ?? 10) else {
                throw ControlError.remote("too many searches are running; try again when one has ended")
            }
            return try encoder.encode(["job": id.uuidString])
        case "search.poll":
            guard let id = UUID(uuidString: request.arguments["job"] ?? ""), let p = searchJobs.next(id) else {
                throw ControlError.remote("unknown search job")
            }
            let me = node.publicKey
            struct Poll: Encodable { let hits: [SearchHit]; let done: Bool }
            return try encoder.encode(Poll(hits: p.results.map { SearchHit($0, online: $0.entry.owner == me || node.isConnected($0.entry.owner)) },
                                           done: p.finished))
        case "get.start":
            guard let downloader else { throw ControlError.remote("downloads are not ready") }
            let id = downloadJobs.start(downloader, target: request.arguments["target"] ?? "", output: request.arguments["output"],
                                        timeout: Double(request.arguments["timeout"] ?? "") ?? 30)
            return try encoder.encode(["job": id])
        case "get.poll":
            let wait = Double(request.arguments["wait"] ?? "") ?? 0
            guard let job = await downloadJobs.poll(request.arguments["job"] ?? "", wait: wait) else {
                throw ControlError.remote("unknown download")
            }
            return try encoder.encode(job)
        case "explore":
            let limit = Int(request.arguments["limit"] ?? "") ?? 50
            return try encoder.encode(try StoreActions.explore(store, limit: limit).map { SearchHit($0, online: node.isConnected($0.entry.owner)) })
        case "ls":
            return try encoder.encode(try StoreActions.list(store, folder: request.arguments["folder"]))
        case "profile.get":
            return try encoder.encode(try StoreActions.profile(store))
        case "profile.set":
            try StoreActions.setProfile(store, field: request.arguments["field"] ?? "", value: Array((request.arguments["value"] ?? "").utf8))
            publish()
            return Data("true".utf8)
        case "profile.delete":
            let n = try StoreActions.deleteProfile(store, field: request.arguments["field"] ?? "")
            publish()
            return try encoder.encode(n)
        default:
            throw ControlError.remote("unknown command '\(request.command)'")
        }
    }
}

/// Progress of share jobs running in the node, polled by the CLI's progress bar.
final class ShareJobs: Sendable {
    let progress = Mutex<[String: [UInt64]]>([:])
}
