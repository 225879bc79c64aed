/// Peers that store, or are close to, one requested hash or node ID.
public struct HashToPeers: Equatable, Sendable {
    public var hash: Hash256
    public var storing: [PeerRecord]
    public var closest: [PeerRecord]
    /// Bit 15 of the count: no more records for this hash follow in this reply.
    public var isLast: Bool

    public init(hash: Hash256, storing: [PeerRecord] = [], closest: [PeerRecord] = [], isLast: Bool = true) {
        self.hash = hash
        self.storing = storing
        self.closest = closest
        self.isLast = isLast
    }

    var recordCount: Int { storing.count + closest.count }
}

/// A small value returned inline by FIND_VALUE; its BLAKE3 hash must equal `hash`.
public struct EmbeddedFile: Equatable, Sendable {
    public var hash: Hash256
    public var data: [UInt8]
    public init(hash: Hash256, data: [UInt8]) {
        self.hash = hash
        self.data = data
    }
    public init(data: [UInt8]) { self.init(hash: .blake3(data), data: data) }
}

/// Response (command 1): the reply to an Announcement (network.md §4.3).
public struct Response: Equatable, Sendable {
    public static let actionSequenceLast: UInt8 = 1 << 0

    public var header: MessageHeader
    /// Set only on the last part of a (possibly multi-part) reply.
    public var sequenceLast: Bool
    public var hashToPeers: [HashToPeers]
    public var embeddedFiles: [EmbeddedFile]
    public var hashesNotFound: [Hash256]

    public init(header: MessageHeader, sequenceLast: Bool = true, hashToPeers: [HashToPeers] = [],
                embeddedFiles: [EmbeddedFile] = [], hashesNotFound: [Hash256] = []) {
        self.header = header
        self.sequenceLast = sequenceLast
        self.hashToPeers = hashToPeers
        self.embeddedFiles = embeddedFiles
        self.hashesNotFound = hashesNotFound
    }

    /// The largest embedded file a reply with this user agent can carry (65346 - UA bytes).
    public static func maxEmbeddedFileSize(userAgentBytes: Int) -> Int {
        WireLimits.maxPayload - MessageHeader.size - userAgentBytes - 6 - 34
    }

    /// Encodes into one or more payloads, all to be sent with the Announcement's sequence; only
    /// the last has SEQUENCE_LAST. Split points are the reference's (a hash entry moves whole to
    /// the next part when it does not fit), without its defects: no dead bytes of half-written
    /// entries, a not-found list of any length, and an entry larger than a part is continued
    /// in the next part with the "last" bit clear. An embedded file too large for any part is
    /// refused (the reference loops forever on it).
    public func encode(sendUserAgent: Bool) throws(ProtocolError) -> [[UInt8]] {
        let uaBytes = sendUserAgent ? MessageHeader.userAgentBytes(header.userAgent).count : 0
        let maxFile = Self.maxEmbeddedFileSize(userAgentBytes: uaBytes)
        for file in embeddedFiles where file.data.count > maxFile {
            throw .tooLarge(what: "embedded file", size: file.data.count, limit: maxFile)
        }
        let limit = WireLimits.maxPayload
        var parts: [[UInt8]] = []
        var entries = hashToPeers[...]
        var pendingRecords: [(PeerRecord, Bool)]? = nil  // the remainder of an oversized entry
        var files = embeddedFiles[...], notFound = hashesNotFound[...]

        repeat {
            var out: [UInt8] = []
            header.encode(actions: 0, sendUserAgent: sendUserAgent, into: &out)
            let countIndex = out.count
            out += [0, 0, 0, 0, 0, 0]
            var counts = (entries: 0, files: 0, notFound: 0)
            let emptyPartSize = out.count

            while let entry = entries.first {
                let records = pendingRecords ?? (entry.storing.map { ($0, true) } + entry.closest.map { ($0, false) })
                let need = 34 + PeerRecord.size * max(records.count, 1)
                if out.count + need <= limit {
                    out += entry.hash.bytes
                    out.appendLE(UInt16(records.count) | (entry.isLast ? 0x8000 : 0))
                    for (record, storing) in records { record.encode(storing: storing, into: &out) }
                    counts.entries += 1
                    entries = entries.dropFirst()
                    pendingRecords = nil
                } else if out.count == emptyPartSize {
                    // Larger than a whole part: send what fits, continue it in the next part.
                    let fit = (limit - out.count - 34) / PeerRecord.size
                    out += entry.hash.bytes
                    out.appendLE(UInt16(fit))
                    for (record, storing) in records.prefix(fit) { record.encode(storing: storing, into: &out) }
                    counts.entries += 1
                    pendingRecords = Array(records.dropFirst(fit))
                    break
                } else {
                    break
                }
            }
            if entries.isEmpty {
                while let file = files.first, out.count + 34 + file.data.count <= limit {
                    out += file.hash.bytes
                    out.appendLE(UInt16(file.data.count))
                    out += file.data
                    counts.files += 1
                    files = files.dropFirst()
                }
            }
            if entries.isEmpty && files.isEmpty {
                let fit = min(notFound.count, (limit - out.count) / 32)
                for hash in notFound.prefix(fit) { out += hash.bytes }
                counts.notFound = fit
                notFound = notFound.dropFirst(fit)
            }
            out.storeLE(UInt16(counts.entries), at: countIndex)
            out.storeLE(UInt16(counts.files), at: countIndex + 2)
            out.storeLE(UInt16(counts.notFound), at: countIndex + 4)
            parts.append(out)
        } while !(entries.isEmpty && files.isEmpty && notFound.isEmpty)

        if sequenceLast { parts[parts.count - 1][2] |= Self.actionSequenceLast }
        return parts
    }

    /// Decodes one payload. Any malformed entry, record or file rejects the whole Response, as
    /// in the reference; unlike the reference, the count fields are bounds-checked after a
    /// user agent (a short payload there crashes Go nodes).
    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> Response {
        var r = ByteReader(payload, what: "response")
        let (header, actions) = try MessageHeader.decode(&r)
        var response = Response(header: header, sequenceLast: actions & actionSequenceLast != 0)
        try r.require(6, "counts")
        let entryCount = Int(try r.u16le())
        let fileCount = Int(try r.u16le())
        let notFoundCount = Int(try r.u16le())
        if entryCount == 0 && fileCount == 0 && notFoundCount == 0 { return response }

        try r.require(entryCount * 34, "hash entries")
        for _ in 0..<entryCount {
            let hash = try r.hash("entry hash")
            let countField = try r.u16le("entry count")
            let recordCount = Int(countField & 0x7fff)
            try r.require(recordCount * PeerRecord.size, "peer records")
            var entry = HashToPeers(hash: hash, isLast: countField & 0x8000 != 0)
            for _ in 0..<recordCount {
                let (record, storing) = try PeerRecord.decode(&r)
                if storing { entry.storing.append(record) } else { entry.closest.append(record) }
            }
            response.hashToPeers.append(entry)
        }
        try r.require(fileCount * 34, "embedded files")
        for _ in 0..<fileCount {
            let hash = try r.hash("embedded file hash")
            let size = Int(try r.u16le("embedded file size"))
            let data = try r.take(size, "embedded file data")
            guard Hash256.blake3(data) == hash else { throw .hashMismatch }
            response.embeddedFiles.append(EmbeddedFile(hash: hash, data: data))
        }
        try r.require(notFoundCount * 32, "hashes not found")
        for _ in 0..<notFoundCount { response.hashesNotFound.append(try r.hash()) }
        return response
    }
}
