import Foundation
import Hummingbird
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetStore
import PeernetSupport

/// /profile/*, /blockchain/read, /explore (and /blockchain/view) and /file/format.
extension WebAPIServer {
    // MARK: Profile

    /// The owner of a cached chain (or us) by node ID.
    func owner(ofNode nodeID: Hash256) -> PublicKey? {
        if nodeID == Hash256.nodeID(of: runtime.node.publicKey) { return runtime.node.publicKey }
        return (try? runtime.store.cache.owners())?.first { Hash256.nodeID(of: $0) == nodeID }
    }

    /// Profile fields of `node` (ours when absent or ours): cached chains answer for others.
    func profile(of nodeText: String?) -> [UInt16: [UInt8]]? {
        let me = runtime.node.publicKey
        guard let text = nodeText, !text.isEmpty, let nodeID = Hash256(hex: text), let owner = owner(ofNode: nodeID), owner != me else {
            if let text = nodeText, !text.isEmpty, let nodeID = Hash256(hex: text), nodeID != Hash256.nodeID(of: me) { return nil }
            return try? runtime.store.chain.profile()
        }
        return try? runtime.store.cache.profile(owner)
    }

    /// GET /profile/list[?node=]
    func profileList(_ request: Request) -> Response {
        guard let fields = profile(of: request.uri.queryParameters["node"].map(String.init)) else {
            return json(APIProfileData(fields: nil, status: ChainStatus.ok))
        }
        return json(APIProfileData(fields: fields.keys.sorted().map { APIProfileField(field: $0, value: fields[$0]!) }, status: ChainStatus.ok))
    }

    /// GET /profile/read?field=[&node=]
    func profileRead(_ request: Request) -> Response {
        let q = request.uri.queryParameters
        guard let field = q["field"].flatMap({ UInt16(String($0)) }) else { return Response(status: .badRequest) }
        guard let value = profile(of: q["node"].map(String.init))?[field] else {
            return json(APIProfileData(fields: nil, status: ChainStatus.dataNotFound))
        }
        return json(APIProfileData(fields: [APIProfileField(field: field, value: value)], status: ChainStatus.ok))
    }

    /// POST /profile/write with apiProfileData
    func profileWrite(_ request: Request) async -> Response {
        guard let input = await decodeJSON(APIProfileData.self, request) else { return Response(status: .badRequest) }
        let fields = (input.fields ?? []).map { ProfileField(field: $0.type, value: $0.value) }
        do { try runtime.store.chain.writeProfile(fields) } catch {
            apiLog.warning("writing the profile: \(error)")
            return chainStatus(ChainStatus.corruptBlockRecord)
        }
        runtime.exchange.publishChainState()
        return chainStatus(ChainStatus.ok)
    }

    /// POST /profile/delete with apiProfileData (only the types count)
    func profileDelete(_ request: Request) async -> Response {
        guard let input = await decodeJSON(APIProfileData.self, request) else { return Response(status: .badRequest) }
        do { _ = try runtime.store.chain.deleteProfile(fields: Set((input.fields ?? []).map(\.type))) } catch {
            apiLog.warning("deleting profile fields: \(error)")
            return chainStatus(ChainStatus.corruptBlockRecord)
        }
        runtime.exchange.publishChainState()
        return chainStatus(ChainStatus.ok)
    }

    // MARK: Account

    /// GET /account/delete?confirm=1: as the reference, the chain, the warehouse and the
    /// identity go (without confirm: 204 and nothing happens). Peers are told of an empty chain
    /// first. The share folder holds the user's own files: it is moved aside, kept, and no
    /// longer shared. The node then stops; the next start makes a new identity (unless the
    /// config names `PrivateKey`).
    func accountDelete(_ request: Request) async -> Response {
        let confirm = request.uri.queryParameters["confirm"].map(String.init) ?? ""
        guard ["1", "t", "T", "true", "TRUE", "True"].contains(confirm) else { return Response(status: .noContent) }
        let runtime = self.runtime
        let aside: Result<URL, Error> = await Self.offPool {
            Result {
                let aside = try runtime.publisher.retire()
                try runtime.store.chain.withdrawAll()
                runtime.exchange.publishChainState()
                _ = runtime.store.warehouse.collectGarbage(keep: [])
                return aside
            }
        }
        switch aside {
        case .failure(let error):
            apiLog.error("deleting the account failed: \(error)")
            return Response(status: .internalServerError)
        case .success(let url):
            apiLog.warning("account deleted through the web API: chain withdrawn, warehouse emptied, identity removed; the share folder was moved to \(url.path)")
        }
        let stop = onShutdown
        let identity = IdentityStore(dataDirectory: runtime.store.dataDirectory).keyURL
        Task {
            // Peers have a moment to fetch the empty chain; then the chain and the key go.
            try? await Task.sleep(for: .seconds(1))
            do { try runtime.store.chain.forgetAll() } catch { apiLog.error("forgetting the chain failed: \(error)") }
            try? FileManager.default.removeItem(at: identity)
            stop()
        }
        return Response(status: .ok)
    }

    // MARK: Blockchain

    /// GET /blockchain/read?block=N: one block of our chain, raw and decoded. The reference
    /// leaves lastblockhash, blockchainversion and blocknumber empty; they are filled in here.
    func blockchainRead(_ request: Request) -> Response {
        guard let number = request.uri.queryParameters["block"].flatMap({ UInt64(String($0)) }) else { return Response(status: .badRequest) }
        guard let raw = try? runtime.store.chain.block(number), let decoded = try? Block.decode(raw) else {
            return json(APIBlockchainBlock(status: 1))   // StatusBlockNotFound
        }
        var result = APIBlockchainBlock(status: ChainStatus.ok)
        result.peerid = decoded.owner.hexString
        result.lastblockhash = Data(decoded.block.previousHash.bytes)
        result.blockchainversion = decoded.block.version
        result.blocknumber = decoded.block.number
        result.recordsraw = decoded.block.records.map { APIBlockRecordRaw(type: $0.type.rawValue, data: Data($0.data)) }
        var items: [APIBlockchainBlock.Decoded] = []
        for file in (try? decoded.block.files()) ?? [] { items.append(.file(APIFile(file, owner: decoded.owner))) }
        for field in (try? decoded.block.profileFields()) ?? [] { items.append(.profile(APIProfileField(field: field.field, value: field.value))) }
        result.recordsdecoded = items
        return json(result)
    }

    /// POST /blockchain/append with {"records":[{"type":,"data":base64}]}: a block of raw
    /// records (the reference's low-level call). Records that do not decode are refused with
    /// status 3 and nothing changes.
    func blockchainAppend(_ request: Request) async -> Response {
        guard let input = await decodeJSON(APIRawRecords.self, request) else { return Response(status: .badRequest) }
        let now = Int64(Date().timeIntervalSince1970)
        let records = input.records.map { BlockRecord(type: RecordType(rawValue: $0.type), date: now, data: [UInt8]($0.data)) }
        do { try runtime.store.chain.appendRaw(records) } catch {
            apiLog.warning("a block appended through the web API was refused: \(error)")
            return chainStatus(ChainStatus.corruptBlockRecord)
        }
        runtime.exchange.publishChainState()
        return chainStatus(ChainStatus.ok)
    }

    // MARK: Explore

    /// GET /explore?limit=&type=&offset=[&node=] and /blockchain/view (the same for one node):
    /// recently shared files, newest first. Type -2 is everything but documents, video, audio,
    /// ebooks, pictures and text.
    func explore(_ request: Request, nodeRequired: Bool) -> Response {
        let q = request.uri.queryParameters
        let offset = Self.pageOffset(q["offset"])
        let limit = min(max(0, q["limit"].flatMap { Int(String($0)) } ?? 100), 10_000)
        let type = q["type"].flatMap { Int(String($0)) } ?? -1
        let node = q["node"].flatMap { Hash256(hex: String($0)) }
        let store = runtime.store
        var entries: [(FileRecord, PublicKey, Int)]
        if let node {
            guard let owner = owner(ofNode: node) else { return json(APISearchResult(status: 1, files: [])) }
            let files = owner == runtime.node.publicKey ? ((try? store.chain.files()) ?? []) : ((try? store.catalog.files(owner: owner)) ?? []).map(\.file)
            entries = files.filter { !$0.isVirtualFolder }.sorted { ($0.dateShared ?? 0) > ($1.dateShared ?? 0) }.map { ($0, owner, 1) }
        } else if nodeRequired {
            return json(APISearchResult(status: 1, files: []))
        } else {
            let recent = (try? store.catalog.recent(excluding: runtime.node.publicKey, limit: offset + limit + 1000)) ?? []
            entries = recent.filter { !$0.entry.file.isVirtualFolder }.map { ($0.entry.file, $0.entry.owner, $0.sharedBy) }
        }
        let everydayTypes: Set<Int> = [1, 2, 3, 4, 5, 10]   // text, picture, video, audio, document, ebook
        entries = entries.filter { e in
            switch type {
            case -1: return true
            case -2: return !everydayTypes.contains(Int(e.0.type))
            default: return Int(e.0.type) == type
            }
        }
        let page = entries.dropFirst(offset).prefix(limit)
        return json(APISearchResult(status: 1, files: page.map { APIFile($0.0, owner: $0.1, sharedBy: $0.2) }))
    }

    /// GET /merge/directory?hash=[&type=&limit=&offset=]: what the nodes that share this file
    /// shared recently (files of one node after another, newest first; `limit` and `offset`
    /// apply per node, as the reference's). Files are null when there are none.
    func mergeDirectory(_ request: Request) -> Response {
        let q = request.uri.queryParameters
        let offset = Self.pageOffset(q["offset"])
        let limit = min(max(0, q["limit"].flatMap { Int(String($0)) } ?? 100), 10_000)
        let type = q["type"].flatMap { Int(String($0)) } ?? -1
        guard let hash = q["hash"].flatMap({ Hash256(hex: String($0)) }) else { return json(APISearchResult(status: 1, files: nil)) }
        let store = runtime.store
        let me = runtime.node.publicKey
        var owners: [PublicKey] = []
        for e in (try? store.catalog.files(withHash: hash)) ?? [] where e.owner != me && !owners.contains(e.owner) { owners.append(e.owner) }
        var files: [APIFile] = []
        for owner in owners.prefix(100) {
            let theirs = ((try? store.catalog.files(owner: owner)) ?? []).map(\.file)
                .filter { !$0.isVirtualFolder && (type == -1 || Int($0.type) == type) }
                .sorted { ($0.dateShared ?? 0) > ($1.dateShared ?? 0) }
            files += theirs.dropFirst(offset).prefix(limit).map { APIFile($0, owner: owner, sharedBy: 1) }
        }
        return json(APISearchResult(status: 1, files: files.isEmpty ? nil : files))
    }

    /// A listing's `offset=`, at most 1,000,000: `offset + limit` feeds a query's LIMIT, and
    /// `offset=9223372036854775807` made that sum overflow and trap the node.
    static func pageOffset(_ text: Substring?) -> Int {
        min(max(0, text.flatMap { Int(String($0)) } ?? 0), 1_000_000)
    }

    /// GET /file/format?path=: the file type and format the reference would give a local file.
    func fileFormat(_ request: Request) -> Response {
        guard let path = request.uri.queryParameters["path"].map(String.init), !path.isEmpty else { return Response(status: .badRequest) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return json(APIFileFormat(status: 1, filetype: 0, fileformat: 0)) }
        close(fd)
        let (type, format) = FileTypeDetection.detect(name: (path as NSString).lastPathComponent)
        return json(APIFileFormat(status: 0, filetype: UInt16(type), fileformat: format))
    }
}

struct APIFileFormat: Encodable {
    let status: Int
    let filetype: UInt16
    let fileformat: UInt16
}

struct APIBlockRecordRaw: Encodable {
    let type: UInt8
    let data: Data
}

/// apiBlockchainBlock.
struct APIBlockchainBlock: Encodable {
    enum Decoded: Encodable {
        case file(APIFile)
        case profile(APIProfileField)
        func encode(to encoder: Encoder) throws {
            switch self {
            case .file(let f): try f.encode(to: encoder)
            case .profile(let p): try p.encode(to: encoder)
            }
        }
    }
    var status: Int
    var peerid = ""
    var lastblockhash: Data?
    var blockchainversion: UInt64 = 0
    var blocknumber: UInt64 = 0
    var recordsraw: [APIBlockRecordRaw]?
    var recordsdecoded: [Decoded]?

    enum CodingKeys: String, CodingKey { case status, peerid, lastblockhash, blockchainversion, blocknumber, recordsraw, recordsdecoded }

    init(status: Int) { self.status = status }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(peerid, forKey: .peerid)
        try c.encode(lastblockhash, forKey: .lastblockhash)
        try c.encode(blockchainversion, forKey: .blockchainversion)
        try c.encode(blocknumber, forKey: .blocknumber)
        try c.encode(recordsraw.flatMap { $0.isEmpty ? nil : $0 }, forKey: .recordsraw)
        try c.encode(recordsdecoded.flatMap { $0.isEmpty ? nil : $0 }, forKey: .recordsdecoded)
    }
}

/// apiBlockchainBlockRaw as a client sends it.
struct APIRawRecords: Decodable {
    struct Record: Decodable { let type: UInt8; let data: Data }
    var records: [Record]

    enum CodingKeys: String, CodingKey { case records }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        records = try c.decodeIfPresent([Record].self, forKey: .records) ?? []
    }
}
