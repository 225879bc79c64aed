import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetNode
import PeernetProtocol
import PeernetStore
import PeernetSupport
import Synchronization

let apiLog = Logger.peernet("webapi")

/// The reference's HTTP API (core/webapi), served by our node over the same runtime as the
/// drive and the CLI, so Peernet Browser and scripts written for the reference work with it.
///
/// Every endpoint of the reference (`routes`, and the websockets of `makeWebSocketRouter`),
/// over HTTP or, with `configuration.tls`, HTTPS. The JSON is the reference's, field for
/// field (`APIShapes.swift`).
public final class WebAPIServer: Sendable {
    public let runtime: PeernetRuntime
    public let configuration: WebAPIConfiguration
    let searches: SearchJobs
    /// What /shutdown calls (the daemon or mount stops).
    let onShutdown: @Sendable () -> Void
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// /warehouse/create uploads tracked by ID.
    let uploads = Mutex(UploadTable())
    /// /download/start downloads by ID.
    let downloads = APIDownloads()
    /// Addresses actually bound (the port filled in when 0 was asked), in `listen` order.
    public let boundEndpoints = Mutex<[Endpoint]>([])

    public init(runtime: PeernetRuntime, configuration: WebAPIConfiguration, onShutdown: @escaping @Sendable () -> Void = {}) {
        self.runtime = runtime
        self.configuration = configuration
        self.onShutdown = onShutdown
        searches = SearchJobs(search: runtime.search)
    }

    /// Starts listening on every configured address; returns when all are bound (or throws).
    public func start() async throws {
        let endpoints = try configuration.endpoints()
        let tls = try configuration.tls?.serverConfiguration()
        for endpoint in endpoints {
            let (stream, bound) = AsyncStream<Int?>.makeStream()
            // APITimeoutRead: a connection that sends no complete request head for that long
            // is closed: the first head by `RequestHeadDeadline`, later ones by Hummingbird's
            // idle timeout (as in Go, where the idle timeout defaults to the read timeout).
            let idle = TimeAmount.nanoseconds(Int64(configuration.readTimeout * 1e9))
            let webSockets = makeWebSocketRouter().buildResponder()
            let server = HTTPServerBuilder { responder in
                let http = RequestHeadDeadline(
                    base: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSockets,
                                                       configuration: .init(http1: .init(idleTimeout: idle))),
                    timeout: idle)
                guard let tls else { return http }
                return try TLSChannel(http, tlsConfiguration: tls)
            }
            let app = Application(
                router: makeRouter(),
                server: server,
                configuration: .init(address: .hostname(endpoint.ip.description, port: Int(endpoint.port)), serverName: nil),
                onServerRunning: { channel in bound.yield(channel.localAddress?.port); bound.finish() },
                logger: apiLog)
            let task = Task {
                do { try await app.run() } catch { apiLog.error("the web API on \(endpoint) stopped: \(error)"); bound.finish() }
            }
            tasks.withLock { $0.append(task) }
            var port: Int?
            for await p in stream { port = p }
            guard let port else { throw WebAPIConfiguration.Problem.badAddress("\(endpoint) (cannot listen there)") }
            let address = Endpoint(ip: endpoint.ip, port: UInt16(port))
            boundEndpoints.withLock { $0.append(address) }
            apiLog.info("web API listening on \(tls == nil ? "http" : "https")://\(address)\(configuration.apiKey == WebAPIConfiguration.nullKey ? " without an API key" : "")")
        }
    }

    public func stop() async {
        searches.stopAll()
        downloads.cancelAll()
        let running = tasks.withLock { t in defer { t = [] }; return t }
        for t in running { t.cancel() }
        for t in running { await t.value }
    }

    // MARK: Routes

    /// Every route served (method, path): docs/webapi-openapi.yaml describes exactly these
    /// (a test checks both ways).
    public static let routes: [(method: String, path: String)] = [
        ("GET", "/test"), ("GET", "/status"), ("GET", "/status/peers"), ("GET", "/status/config"), ("GET", "/account/info"),
        ("GET", "/blockchain/header"), ("GET", "/blockchain/file/list"), ("POST", "/search"), ("GET", "/search/result"),
        ("GET", "/search/terminate"), ("GET", "/file/read"), ("GET", "/shutdown"),
        ("POST", "/blockchain/file/add"), ("POST", "/blockchain/file/update"), ("POST", "/blockchain/file/delete"),
        ("GET", "/blockchain/read"), ("GET", "/blockchain/view"),
        ("POST", "/warehouse/create"), ("GET", "/warehouse/create/uploadID"), ("GET", "/warehouse/create/track/uploadID"),
        ("GET", "/warehouse/create/path"), ("GET", "/warehouse/read"), ("GET", "/warehouse/read/path"), ("GET", "/warehouse/delete"),
        ("GET", "/profile/list"), ("GET", "/profile/read"), ("POST", "/profile/write"), ("POST", "/profile/delete"),
        ("GET", "/explore"), ("GET", "/file/format"), ("GET", "/file/view"),
        ("GET", "/download/start"), ("GET", "/download/status"), ("GET", "/download/action"),
        ("GET", "/search/statistic"), ("GET", "/search/result/ws"), ("GET", "/console"), ("GET", "/merge/directory"),
        ("POST", "/blockchain/append"), ("GET", "/account/delete"),
    ]

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        if configuration.apiKey != WebAPIConfiguration.nullKey { router.add(middleware: APIKeyMiddleware(key: configuration.apiKey)) }
        router.get("test") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok"))) }
        router.get("status") { [self] _, _ in status() }
        router.get("status/peers") { [self] _, _ in statusPeers() }
        router.get("status/config") { [self] _, _ in json(APIConfig(blockSize: runtime.store.cache.limits.maxBlockSize)) }
        router.get("account/info") { [self] _, _ in
            json(APIPeerSelf(peerid: runtime.node.publicKey.hexString, nodeid: Hash256.nodeID(of: runtime.node.publicKey).hex))
        }
        router.get("blockchain/header") { [self] _, _ in
            json(APIBlockchainHeader(peerid: runtime.node.publicKey.hexString, version: runtime.store.chain.version, height: runtime.store.chain.height))
        }
        router.get("blockchain/file/list") { [self] request, _ in fileList(request) }
        router.post("search") { [self] request, _ in try await startSearch(request) }
        router.get("search/result") { [self] request, _ in searchResult(request) }
        router.get("search/terminate") { [self] request, _ in
            guard let id = request.uri.queryParameters["id"].flatMap({ UUID(uuidString: String($0)) }) else { return Response(status: .badRequest) }
            searches.terminate(id)
            return Response(status: .noContent)
        }
        router.get("file/read") { [self] request, _ in try await fileRead(request) }
        router.get("file/view") { [self] request, _ in try await fileRead(request, view: true) }
        router.post("blockchain/file/add") { [self] request, _ in await fileAdd(request) }
        router.post("blockchain/file/update") { [self] request, _ in await fileUpdate(request) }
        router.post("blockchain/file/delete") { [self] request, _ in await fileDelete(request) }
        router.get("blockchain/read") { [self] request, _ in blockchainRead(request) }
        router.get("blockchain/view") { [self] request, _ in explore(request, nodeRequired: true) }
        router.post("warehouse/create") { [self] request, _ in await warehouseCreate(request) }
        router.get("warehouse/create/uploadID") { [self] _, _ in newUploadID() }
        router.get("warehouse/create/track/uploadID") { [self] request, _ in uploadInfo(request) }
        router.get("warehouse/create/path") { [self] request, _ in await warehouseCreatePath(request) }
        router.get("warehouse/read") { [self] request, _ in await warehouseRead(request) }
        router.get("warehouse/read/path") { [self] request, _ in await warehouseReadPath(request) }
        router.get("warehouse/delete") { [self] request, _ in warehouseDelete(request) }
        router.get("profile/list") { [self] request, _ in profileList(request) }
        router.get("profile/read") { [self] request, _ in profileRead(request) }
        router.post("profile/write") { [self] request, _ in await profileWrite(request) }
        router.post("profile/delete") { [self] request, _ in await profileDelete(request) }
        router.get("explore") { [self] request, _ in explore(request, nodeRequired: false) }
        router.get("file/format") { [self] request, _ in fileFormat(request) }
        router.get("merge/directory") { [self] request, _ in mergeDirectory(request) }
        router.post("blockchain/append") { [self] request, _ in await blockchainAppend(request) }
        router.get("account/delete") { [self] request, _ in await accountDelete(request) }
        router.get("download/start") { [self] request, _ in downloadStart(request) }
        router.get("download/status") { [self] request, _ in downloadStatus(request) }
        router.get("download/action") { [self] request, _ in downloadAction(request) }
        router.get("search/statistic") { [self] request, _ in
            guard let id = request.uri.queryParameters["id"].flatMap({ UUID(uuidString: String($0)) }) else { return Response(status: .badRequest) }
            guard let all = searches.all(id) else { return json(APISearchStatistic(status: 2)) }
            return json(APISearchStatistic(all.results, ended: all.ended))
        }
        // Without an upgrade, the websocket paths answer as gorilla's upgrader does.
        router.get("search/result/ws") { _, _ in Response(status: .badRequest) }
        router.get("console") { _, _ in Response(status: .badRequest) }
        router.get("shutdown") { [self] _, _ in
            // The reply goes out first; then the node stops.
            let stop = onShutdown
            Task { try? await Task.sleep(for: .milliseconds(100)); stop() }
            return json(["status": 0])
        }
        return router
    }

    /// JSON as Go's json.Encoder writes it (with its trailing newline).
    func json(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        var data = (try? encoder.encode(value)) ?? Data("null".utf8)
        data.append(0x0a)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func status() -> Response {
        let peers = runtime.node.peers().count
        // The reference calls a node connected with at least 2 peers in its list.
        return json(APIStatus(status: 0, isconnected: peers >= 2, countpeerlist: peers, countnetwork: peers))
    }

    func statusPeers() -> Response {
        let peers = runtime.node.peers().map { p in
            APIPeerInfo(peerid: Data(Hex.decodeOrEmpty(p.peerId)), nodeid: Data(Hex.decodeOrEmpty(p.nodeId)), geoip: "",
                        useragent: p.userAgent, isroot: p.isRoot, blockchainheight: p.blockchainHeight, blockchainversion: p.blockchainVersion)
        }
        // Go writes a nil slice as null.
        return peers.isEmpty ? rawJSON("null") : json(peers)
    }

    func rawJSON(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    func fileList(_ request: Request) -> Response {
        let format = request.uri.queryParameters["fileFormat"].flatMap { Int(String($0)) }
        let me = runtime.node.publicKey
        let files = ((try? runtime.store.chain.files()) ?? []).filter { f in format.map { Int(f.format) == $0 } ?? true }
        return json(APIBlockAddFiles(files: files.map { APIFile($0, owner: me) }, status: 0))
    }

    // MARK: Search

    func startSearch(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        guard let input = try? JSONDecoder().decode(APISearchRequest.self, from: Data(buffer: body)) else { return Response(status: .badRequest) }
        for old in input.terminate { if let id = UUID(uuidString: old) { searches.terminate(id) } }
        let term = SearchText.sanitize(input.term)
        guard term.utf8.count >= 1 else { return json(APISearchRequestResponse(id: WebAPIConfiguration.nullKey.uuidString.lowercased(), status: 1)) }
        var filter = SearchFilter()
        if input.filetype >= 0 { filter.type = UInt8(clamping: input.filetype) }
        if input.fileformat >= 0 { filter.format = UInt16(clamping: input.fileformat) }
        if input.sizemin >= 0 { filter.sizeMin = UInt64(input.sizemin) }
        if input.sizemax >= 0 { filter.sizeMax = UInt64(input.sizemax) }
        if let node = Hash256(hex: input.node) { filter.owner = node }
        let timeout = input.timeout > 0 ? Double(min(input.timeout, 600)) : 20
        let limit = input.maxresults > 0 ? min(input.maxresults, 10_000) : 200
        guard let id = searches.start(term, filter: filter, sort: SearchSort(rawValue: input.sort) ?? .none, limit: limit, timeout: timeout) else {
            return json(APISearchRequestResponse(id: WebAPIConfiguration.nullKey.uuidString.lowercased(), status: 2))
        }
        return json(APISearchRequestResponse(id: id.uuidString.lowercased(), status: 0))
    }

    func searchResult(_ request: Request) -> Response {
        guard let id = request.uri.queryParameters["id"].flatMap({ UUID(uuidString: String($0)) }) else { return Response(status: .badRequest) }
        let limit = request.uri.queryParameters["limit"].flatMap { Int(String($0)) } ?? 100
        // Status: 0 results, 1 no more, 2 unknown ID, 3 none yet (the reference's codes).
        guard let batch = searches.next(id, limit: limit) else { return json(APISearchResult(status: 2, files: nil)) }
        guard !batch.results.isEmpty else { return json(APISearchResult(status: batch.finished ? 1 : 3, files: nil)) }
        return json(APISearchResult(status: 0, files: batch.results.map { APIFile($0.entry.file, owner: $0.entry.owner, sharedBy: $0.sharedBy) }))
    }
}

extension Hex {
    static func decodeOrEmpty(_ text: String) -> [UInt8] { (try? decode(text)) ?? [] }
}
