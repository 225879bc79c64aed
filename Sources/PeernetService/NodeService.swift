import Foundation
import PeernetCrypto
import PeernetExchange
import PeernetNode
import PeernetStore
import PeernetSupport
import Synchronization

/// A running node with its control channel: what `peernet daemon` and `peernet mount` run.
public final class NodeService: Sendable {
    public let node: Node
    public let store: LocalStore
    public let exchange: BlockExchange
    public let control: ControlServer
    public let dataDirectory: DataDirectory
    let started = Date()

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
        let store = try LocalStore(dataDirectory: dataDirectory, key: key)
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
        let exchangeBox = Mutex<BlockExchange?>(nil)
        control = try ControlServer(path: Self.controlPath(dataDirectory)) { [node, store] request in
            try await NodeService.handle(request, node: node, store: store, jobs: jobs, started: startedAt,
                                         publish: { exchangeBox.withLock { $0 }?.publishChainState() })
        }
        exchange = BlockExchange(node: node, store: store)
        exchangeBox.withLock { [exchange] in $0 = exchange }
        node.start()
        control.start()
    }

    public func stop() async {
        control.stop()
        exchange.stop()
        await node.stop()
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
    }

    static func handle(_ request: ControlRequest, node: Node, store: LocalStore, jobs: ShareJobs,
                       started: Date, publish: () -> Void) async throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        switch request.command {
        case "status":
            let peers = node.peers()
            return try encoder.encode(Status(
                peerId: node.publicKey.hexString, nodeId: node.nodeID.hex, userAgent: node.config.userAgent,
                listen: node.listenEndpoints.map(\.description), peersConnected: peers.filter(\.connected).count,
                peersKnown: peers.count, routingTableSize: node.routingTableSize,
                uptimeSeconds: Int(Date().timeIntervalSince(started)), statistics: node.statistics))
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
            let shared = try StoreActions.share(store, paths: paths, folder: request.arguments["folder"] ?? "", name: request.arguments["name"],
                                                description: request.arguments["description"] ?? "") { _, done, total in
                jobs.progress.withLock { $0[job] = [done, total] }
            }
            publish()
            return try encoder.encode(shared)
        case "progress":
            let p = jobs.progress.withLock { $0[request.arguments["job"] ?? ""] } ?? []
            return try encoder.encode(p)
        case "unshare":
            let removed = try StoreActions.unshare(store, targets: (request.arguments["targets"] ?? "").split(separator: "\n").map(String.init))
            publish()
            return try encoder.encode(removed)
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
