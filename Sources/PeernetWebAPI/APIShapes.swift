import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetStore

// The JSON the reference's web API writes (core/webapi, commit 23397e3), field for field:
// the same names, Go's encodings ([]byte as base64, time.Time as RFC 3339, UUIDs in lower
// case, nil slices as null) and its trailing newline (json.Encoder).

/// Go's RFC 3339 time format (time.Time's MarshalJSON), in UTC.
func goTime(_ seconds: Int64) -> String {
    let date = Date(timeIntervalSince1970: TimeInterval(seconds))
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: date)
}

/// time.Time{} encoded.
let goZeroTime = "0001-01-01T00:00:00Z"

struct APIStatus: Encodable {
    let status: Int
    let isconnected: Bool
    let countpeerlist: Int
    let countnetwork: Int
}

struct APIPeerSelf: Encodable {
    let peerid: String
    let nodeid: String
}

struct APIPeerInfo: Encodable {
    let peerid: Data
    let nodeid: Data
    let geoip: String
    let useragent: String
    let isroot: Bool
    let blockchainheight: UInt64
    let blockchainversion: UInt64
}

struct APIConfig: Encodable {
    let blockSize: UInt64
}

struct APIBlockchainHeader: Encodable {
    let peerid: String
    let version: UInt64
    let height: UInt64
}

/// apiFileMetadata; `blob` is null when absent, as Go writes a nil []byte.
struct APIFileMetadata: Encodable {
    var type: UInt16
    var name = ""
    var text = ""
    var blob: Data?
    var date = goZeroTime
    var number: UInt64 = 0

    enum CodingKeys: String, CodingKey { case type, name, text, blob, date, number }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(name, forKey: .name)
        try c.encode(text, forKey: .text)
        try c.encode(blob, forKey: .blob)   // Optional: null when nil
        try c.encode(date, forKey: .date)
        try c.encode(number, forKey: .number)
    }
}

/// apiFile: a file record as the API shows it.
struct APIFile: Encodable {
    var id: String
    var hash: Data
    var type: UInt8
    var format: UInt16
    var size: UInt64
    var folder: String
    var name: String
    var description: String
    var date: String
    var nodeid: Data?
    /// nil only in the zero value (Go's apiFile{}), which writes null.
    var metadata: [APIFileMetadata]?
    var username: String

    enum CodingKeys: String, CodingKey { case id, hash, type, format, size, folder, name, description, date, nodeid, metadata, username }

    init(_ file: FileRecord, owner: PublicKey, sharedBy: Int? = nil) {
        id = file.id.uuidString.lowercased()
        hash = Data(file.hash.bytes)
        type = file.type
        format = file.format
        size = file.size
        func text(_ t: UInt16) -> String { file.tag(t).map { String(decoding: $0.data, as: UTF8.self) } ?? "" }
        folder = text(FileTag.folder)
        name = text(FileTag.name)
        description = text(FileTag.description)
        date = file.dateShared.map(goTime) ?? goZeroTime
        nodeid = Data(Hash256.nodeID(of: owner).bytes)
        username = ""
        var metadata: [APIFileMetadata] = []
        defer { self.metadata = metadata }
        for tag in file.tags {
            switch tag.type {
            case FileTag.name, FileTag.folder, FileTag.description, FileTag.dateShared: continue
            case FileTag.dateCreated:
                metadata.append(APIFileMetadata(type: tag.type, name: "Date Created", date: tag.int64.map(goTime) ?? goZeroTime))
            default:
                metadata.append(APIFileMetadata(type: tag.type, blob: Data(tag.data)))
            }
        }
        if let sharedBy { metadata.append(APIFileMetadata(type: FileTag.sharedByCount, name: "Shared By Count", number: UInt64(sharedBy))) }
    }

    /// apiFile{} as Go writes it (a download whose file is not known yet).
    private init() {
        id = WebAPIConfiguration.nullKey.uuidString.lowercased()
        hash = Data(); type = 0; format = 0; size = 0; folder = ""; name = ""; description = ""
        date = goZeroTime; nodeid = nil; metadata = nil; username = ""
    }
    static let zero = APIFile()

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        if hash.isEmpty { try c.encodeNil(forKey: .hash) } else { try c.encode(hash, forKey: .hash) }
        try c.encode(type, forKey: .type)
        try c.encode(format, forKey: .format)
        try c.encode(size, forKey: .size)
        try c.encode(folder, forKey: .folder)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(date, forKey: .date)
        try c.encode(nodeid, forKey: .nodeid)
        try c.encode(metadata, forKey: .metadata)
        try c.encode(username, forKey: .username)
    }
}

/// apiBlockAddFiles: a list of files (null when empty, as Go writes a nil slice) and a status.
struct APIBlockAddFiles: Encodable {
    var files: [APIFile]?
    var status: Int

    enum CodingKeys: String, CodingKey { case files, status }

    init(files: [APIFile], status: Int) {
        self.files = files.isEmpty ? nil : files
        self.status = status
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(files, forKey: .files)   // Optional: null when nil
        try c.encode(status, forKey: .status)
    }
}

struct APISearchRequest: Decodable {
    var term: String = ""
    var timeout: Int = 0
    var maxresults: Int = 0
    var datefrom: String = ""
    var dateto: String = ""
    var sort: Int = 0
    var terminate: [String] = []
    var filetype: Int = -1
    var fileformat: Int = -1
    var sizemin: Int = -1
    var sizemax: Int = -1
    var node: String = ""

    enum CodingKeys: String, CodingKey { case term, timeout, maxresults, datefrom, dateto, sort, terminate, filetype, fileformat, sizemin, sizemax, node }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        term = try c.decodeIfPresent(String.self, forKey: .term) ?? ""
        timeout = try c.decodeIfPresent(Int.self, forKey: .timeout) ?? 0
        maxresults = try c.decodeIfPresent(Int.self, forKey: .maxresults) ?? 0
        datefrom = try c.decodeIfPresent(String.self, forKey: .datefrom) ?? ""
        dateto = try c.decodeIfPresent(String.self, forKey: .dateto) ?? ""
        sort = try c.decodeIfPresent(Int.self, forKey: .sort) ?? 0
        terminate = try c.decodeIfPresent([String].self, forKey: .terminate) ?? []
        filetype = try c.decodeIfPresent(Int.self, forKey: .filetype) ?? -1
        fileformat = try c.decodeIfPresent(Int.self, forKey: .fileformat) ?? -1
        sizemin = try c.decodeIfPresent(Int.self, forKey: .sizemin) ?? -1
        sizemax = try c.decodeIfPresent(Int.self, forKey: .sizemax) ?? -1
        node = try c.decodeIfPresent(String.self, forKey: .node) ?? ""
    }
}

struct APISearchRequestResponse: Encodable {
    let id: String
    let status: Int
}

struct APISearchResult: Encodable {
    var status: Int
    var files: [APIFile]?

    enum CodingKeys: String, CodingKey { case status, files, statistic }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(files, forKey: .files)
        try c.encodeNil(forKey: .statistic)   // statistics are not computed (the reference sends them only on request)
    }
}

/// apiBlockchainBlockStatus: the result of a chain change (blockchain.StatusX).
struct APIBlockchainBlockStatus: Encodable {
    var status: Int
    var height: UInt64
    var version: UInt64
}

/// The reference's blockchain.StatusX codes the API returns.
enum ChainStatus {
    static let ok = 0
    static let corruptBlockRecord = 3
    static let dataNotFound = 4
    static let notInWarehouse = 5
}

/// apiFile as a client sends it (add, update, delete). Go leaves missing fields at zero.
struct APIFileInput: Decodable {
    var id: TransferID?
    var hash: Data
    var type: UInt8
    var format: UInt16
    var folder: String
    var name: String
    var description: String

    enum CodingKeys: String, CodingKey { case id, hash, type, format, folder, name, description }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let idText = try c.decodeIfPresent(String.self, forKey: .id) ?? ""
        id = idText.isEmpty ? nil : TransferID(uuidString: idText)
        if id == .zero { id = nil }   // uuid.Nil: the reference makes a new ID
        if !idText.isEmpty && id == nil && idText != "00000000-0000-0000-0000-000000000000" {
            throw DecodingError.dataCorruptedError(forKey: .id, in: c, debugDescription: "not a UUID")
        }
        hash = try c.decodeIfPresent(Data.self, forKey: .hash) ?? Data()
        type = try c.decodeIfPresent(UInt8.self, forKey: .type) ?? 0
        format = try c.decodeIfPresent(UInt16.self, forKey: .format) ?? 0
        folder = try c.decodeIfPresent(String.self, forKey: .folder) ?? ""
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
    }

    /// Type 9 / format 16, as the reference's IsVirtualFolder.
    var isVirtualFolder: Bool { type == 9 && format == 16 }
}

struct APIFileListInput: Decodable {
    var files: [APIFileInput]

    enum CodingKeys: String, CodingKey { case files }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        files = try c.decodeIfPresent([APIFileInput].self, forKey: .files) ?? []
    }
}

/// WarehouseResult (warehouse.StatusX and the content's hash).
struct APIWarehouseResult: Encodable {
    var status: Int
    var hash: Data?

    enum CodingKeys: String, CodingKey { case status, hash }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(hash, forKey: .hash)   // null when nil, as Go writes a nil []byte
    }
}

/// The reference's warehouse.StatusX codes the API returns.
enum WarehouseStatus {
    static let ok = 0
    static let errorCreateTempFile = 1
    static let errorOpenFile = 7
    static let fileNotFound = 9
    static let errorTargetExists = 13
    static let errorCreateTarget = 14
}

/// UploadStatus: progress of a /warehouse/create upload tracked by ID.
struct APIUploadStatus: Encodable, Sendable {
    struct Progress: Encodable, Sendable {
        var totalsize: UInt64 = 0
        var uploadedsize: UInt64 = 0
        var percentage: Double = 0
    }
    var apistatus = 0
    var id: String
    var uploadstatus = 0
    var progress = Progress()
}

/// apiProfileData and apiBlockRecordProfile.
struct APIProfileField: Codable {
    var type: UInt16
    var text: String
    var blob: Data?

    enum CodingKeys: String, CodingKey { case type, text, blob }

    init(type: UInt16, text: String = "", blob: Data? = nil) {
        self.type = type
        self.text = text
        self.blob = blob
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decodeIfPresent(UInt16.self, forKey: .type) ?? 0
        text = try c.decodeIfPresent(String.self, forKey: .text) ?? ""
        blob = try c.decodeIfPresent(Data.self, forKey: .blob)
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(text, forKey: .text)
        try c.encode(blob, forKey: .blob)
    }

    /// Fields the reference shows as text (name, email, website, twitter, youtube, address).
    static let textFields: Set<UInt16> = [0, 1, 2, 3, 4, 5]

    init(field: UInt16, value: [UInt8]) {
        if Self.textFields.contains(field) { self.init(type: field, text: String(decoding: value, as: UTF8.self)) } else {
            self.init(type: field, blob: Data(value))
        }
    }

    var value: [UInt8] { Self.textFields.contains(type) ? Array(text.utf8) : Array(blob ?? Data()) }
}

struct APIProfileData: Codable {
    var fields: [APIProfileField]?
    var status: Int

    enum CodingKeys: String, CodingKey { case fields, status }

    init(fields: [APIProfileField]?, status: Int) {
        self.fields = fields
        self.status = status
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fields = try c.decodeIfPresent([APIProfileField].self, forKey: .fields)
        status = try c.decodeIfPresent(Int.self, forKey: .status) ?? 0
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(fields.flatMap { $0.isEmpty ? nil : $0 }, forKey: .fields)
        try c.encode(status, forKey: .status)
    }
}
