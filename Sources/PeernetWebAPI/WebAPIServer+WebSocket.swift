import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import PeernetCrypto
import PeernetProtocol
import PeernetStore

/// /search/result/ws (results as a stream) and /console (the Cmd client's text console).
extension WebAPIServer {
    /// Longest a result stream stays open (a search ends long before: 600 s at most).
    static let maxStreamSeconds = 660.0
    /// Largest console message read.
    static let maxConsoleMessage = 4096

    func makeWebSocketRouter() -> Router<BasicWebSocketRequestContext> {
        let router = Router(context: BasicWebSocketRequestContext.self)
        if configuration.apiKey != WebAPIConfiguration.nullKey { router.add(middleware: APIKeyMiddleware(key: configuration.apiKey)) }
        router.ws("search/result/ws", shouldUpgrade: { [self] request, _ in
            guard let id = request.uri.queryParameters["id"].flatMap({ UUID(uuidString: String($0)) }), searches.exists(id) else { return .dontUpgrade }
            return .upgrade([:])
        }, onUpgrade: { [self] _, outbound, context in
            let q = context.request.uri.queryParameters
            guard let id = q["id"].flatMap({ UUID(uuidString: String($0)) }) else { return }
            let limit = q["limit"].flatMap { Int(String($0)) }
            try await streamResults(id, limit: limit) { text in try await outbound.write(.text(text)) }
        })
        router.ws("console") { [self] inbound, outbound, _ in
            var console = Console(server: self)
            try await outbound.write(.text(Console.help))
            for try await message in inbound.messages(maxSize: Self.maxConsoleMessage) {
                guard case .text(let text) = message else { continue }
                for line in text.split(whereSeparator: \.isNewline) {
                    let reply = console.handle(String(line))
                    if !reply.isEmpty { try await outbound.write(.text(reply)) }
                }
            }
        }
        return router
    }

    /// The reference's loop: batches of results (one at a time without a limit) until the
    /// search has no more; the last message has status 1.
    func streamResults(_ id: UUID, limit: Int?, send: (String) async throws -> Void) async throws {
        var remaining = limit
        let deadline = Date().addingTimeInterval(Self.maxStreamSeconds)
        while Date() < deadline {
            let want = remaining.map { max(1, $0) } ?? 1
            guard let batch = searches.next(id, limit: want) else {
                try await send(jsonText(APISearchResult(status: 1, files: [])))
                return
            }
            let files = batch.results.map { APIFile($0.entry.file, owner: $0.entry.owner, sharedBy: $0.sharedBy) }
            if batch.finished && files.isEmpty {
                try await send(jsonText(APISearchResult(status: 1, files: [])))
                return
            }
            if files.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            try await send(jsonText(APISearchResult(status: batch.finished ? 1 : 0, files: files)))
            if let r = remaining { remaining = r - files.count }
            if (remaining ?? 1) <= 0 || batch.finished { return }
        }
    }

    func jsonText(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return ((try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null") + "\n"
    }
}

/// The Cmd client's console over a websocket: the same commands and text as its command line,
/// for the ones that make sense remotely (keys are never shown).
struct Console {
    let server: WebAPIServer
    /// A command waiting for its argument line ("hash", then the text).
    var awaiting: String?

    static let help = """
        Please enter a command:
        help               Show this help
        status             Get current status
        peer list          List current peers
        hash               Create blake3 hash of input
        warehouse get      Get data from local warehouse by hash

        """

    mutating func handle(_ line: String) -> String {
        let input = line.trimmingCharacters(in: .whitespaces)
        if let command = awaiting {
            awaiting = nil
            return argument(command, input)
        }
        let runtime = server.runtime
        switch input.lowercased() {
        case "help", "?":
            return Self.help
        case "status":
            let me = runtime.node.publicKey
            var text = "----------------\nPublic Key: \(me.hexString)\nNode ID:    \(Hash256.nodeID(of: me).hex)\n\n"
            text += "Listen Address\n" + runtime.node.listenEndpoints.map { "\($0)\n" }.joined() + "\n"
            text += "Peer ID                                                             Flags\n"
            for p in runtime.node.peers() { text += "\(p.peerId.padding(toLength: 66, withPad: " ", startingAt: 0))  \(p.isRoot ? "R" : "")\n" }
            return text + "\n"
        case "peer list":
            return runtime.node.peers().map { p in
                "* Peer ID \(p.peerId)\(p.isRoot ? " [root peer]" : "")\n  Node ID \(p.nodeId)\n  User Agent: \(p.userAgent)\n\n"
            }.joined()
        case "hash", "warehouse get":
            awaiting = input.lowercased()
            return ""
        case "debug key self", "debug key create":
            return "Keys are not shown over the API.\n"
        case "":
            return ""
        default:
            return "Unknown command '\(input)'. Type help for the list.\n"
        }
    }

    private func argument(_ command: String, _ input: String) -> String {
        switch command {
        case "hash":
            return "blake3 hash: \(Hash256.blake3(Array(input.utf8)).hex)\n"
        default:
            guard let hash = Hash256(hex: input) else { return "Invalid hash. Hex-encoded blake3 hash as input is required.\n" }
            guard let size = server.runtime.store.warehouse.size(of: hash),
                  let data = try? server.runtime.store.warehouse.read(hash, offset: 0, length: Int(min(size, 1 << 20))) else { return "Not found.\n" }
            return "Data hex:    \(Hex.encode(data))\nData string: \(String(decoding: data, as: UTF8.self))\n"
        }
    }
}

/// SearchStatistic: counts over every result of a search (by day shared, type and format).
struct APISearchStatistic: Encodable {
    struct Day: Encodable { let date: String; let count: Int }
    struct Record: Encodable { let key: Int; let count: Int }
    var date: [Day]?
    var filetype: [Record]?
    var fileformat: [Record]?
    var total = 0
    var status: Int
    var terminated = false

    enum CodingKeys: String, CodingKey { case date, filetype, fileformat, total, status, terminated }

    init(status: Int) { self.status = status }

    init(_ results: [SearchResult], ended: Bool) {
        status = 0
        terminated = ended
        total = results.count
        var days: [Int64: Int] = [:], types: [Int: Int] = [:], formats: [Int: Int] = [:]
        for r in results {
            let f = r.entry.file
            if let shared = f.dateShared { days[shared - ((shared % 86_400) + 86_400) % 86_400, default: 0] += 1 }
            types[Int(f.type), default: 0] += 1
            formats[Int(f.format), default: 0] += 1
        }
        date = days.isEmpty ? nil : days.keys.sorted().map { Day(date: goTime($0), count: days[$0]!) }
        filetype = types.isEmpty ? nil : types.keys.sorted().map { Record(key: $0, count: types[$0]!) }
        fileformat = formats.isEmpty ? nil : formats.keys.sorted().map { Record(key: $0, count: formats[$0]!) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(date, forKey: .date)
        try c.encode(filetype, forKey: .filetype)
        try c.encode(fileformat, forKey: .fileformat)
        try c.encode(total, forKey: .total)
        try c.encode(status, forKey: .status)
        try c.encode(terminated, forKey: .terminated)
    }
}
