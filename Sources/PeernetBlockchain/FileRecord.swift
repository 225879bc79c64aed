import PeernetCrypto
import PeernetProtocol

/// A tag of a file record (data.md §1.5.4). Virtual tags are derived when decoding and never
/// written (date shared, shared-by count, GeoIP).
public struct FileTag: Equatable, Sendable {
    public static let name: UInt16 = 0
    public static let folder: UInt16 = 1
    public static let description: UInt16 = 2
    public static let dateShared: UInt16 = 3
    public static let dateCreated: UInt16 = 4
    public static let sharedByCount: UInt16 = 5
    public static let sharedByGeoIP: UInt16 = 6

    public var type: UInt16
    public var data: [UInt8]

    public init(type: UInt16, data: [UInt8]) {
        self.type = type
        self.data = data
    }

    public init(type: UInt16, text: String) { self.init(type: type, data: Array(text.utf8)) }
    public init(type: UInt16, date: Int64) {
        var d: [UInt8] = []
        d.appendLE(date)
        self.init(type: type, data: d)
    }

    public var isVirtual: Bool { type == Self.dateShared || type == Self.sharedByCount || type == Self.sharedByGeoIP }
    public var text: String { String(decoding: data, as: UTF8.self) }
    /// An 8-byte date/number tag's value (nil if the tag is not exactly 8 bytes).
    public var int64: Int64? { data.count == 8 ? data.loadLE(Int64.self, at: 0) : nil }
}

/// The metadata of one shared file (data.md §1.5, §3.1).
public struct FileRecord: Equatable, Sendable {
    public static let fixedSize = 101
    /// The fragment size the reference uses for files of at most 256 KiB.
    public static let smallFileFragmentSize: UInt64 = 262_144

    public var hash: Hash256
    public var id: TransferID
    public var merkleRoot: Hash256
    public var fragmentSize: UInt64
    public var type: UInt8
    public var format: UInt16
    public var size: UInt64
    /// Tags in record order; decoding appends the virtual "date shared".
    public var tags: [FileTag]

    public init(hash: Hash256, id: TransferID, merkleRoot: Hash256, fragmentSize: UInt64, type: UInt8, format: UInt16,
                size: UInt64, tags: [FileTag]) {
        self.hash = hash
        self.id = id
        self.merkleRoot = merkleRoot
        self.fragmentSize = fragmentSize
        self.type = type
        self.format = format
        self.size = size
        self.tags = tags
    }

    /// The last tag of a type (what the reference's consumers use).
    public func tag(_ type: UInt16) -> FileTag? { tags.last { $0.type == type } }
    public var name: String { tag(FileTag.name)?.text ?? "" }
    public var folder: String { tag(FileTag.folder)?.text ?? "" }
    public var fileDescription: String { tag(FileTag.description)?.text ?? "" }
    public var dateShared: Int64? { tag(FileTag.dateShared)?.int64 }
    public var dateCreated: Int64? { tag(FileTag.dateCreated)?.int64 }
    /// Type 9 / format 16: a virtual folder record with no content.
    public var isVirtualFolder: Bool { type == 9 && format == 16 }

    /// Replaces the description (none when `text` is empty); virtual tags, which only the
    /// reader adds, are dropped with the old value.
    public mutating func setDescription(_ text: String) {
        tags.removeAll { $0.type == FileTag.description || $0.isVirtual }
        if !text.isEmpty { tags.append(FileTag(type: FileTag.description, text: text)) }
    }
}

/// Encoding of file records into block records with the reference's TagData compression
/// (data.md §1.5.3): tag values longer than 4 bytes that occur at least twice in the group
/// become one TagData record each, emitted first; tags then refer to them by relative index.
public enum FileRecordCodec {
    /// Encodes `files` as one group whose first record will sit at `startIndex` in its block.
    /// Returns the TagData records followed by the file records. Virtual tags are not written,
    /// but (as in the reference) they take part in duplicate detection.
    public static func encode(_ files: [FileRecord], date: Int64, startIndex: Int = 0) -> [BlockRecord] {
        var counts: [[UInt8]: Int] = [:]
        var tagData: [[UInt8]] = []
        for file in files {
            for tag in file.tags where tag.data.count > 4 {
                let c = (counts[tag.data] ?? 0) + 1
                counts[tag.data] = c
                if c == 2 { tagData.append(tag.data) }
            }
        }
        let tagIndex = Dictionary(tagData.enumerated().map { ($1, $0 + startIndex) }, uniquingKeysWith: { a, _ in a })
        var records = tagData.map { BlockRecord(type: .tagData, date: date, data: $0) }
        for (i, file) in files.enumerated() {
            let data = encodeFile(file, tagIndex: tagIndex, recordIndex: startIndex + tagData.count + i)
            records.append(BlockRecord(type: .file, date: date, data: data))
        }
        return records
    }

    /// One file record's data with every tag inline and no virtual tags: decodable on its own
    /// (the catalog stores records this way; `decode` of it adds "date shared" again).
    public static func encodeStandalone(_ file: FileRecord) -> [UInt8] {
        encodeFile(file, tagIndex: [:], recordIndex: 0)
    }

    /// The fixed fields, then the written tags: a value in `tagIndex` becomes a reference
    /// (type | 0x8000) to that TagData record, relative to `recordIndex`; others are inline.
    static func encodeFile(_ file: FileRecord, tagIndex: [[UInt8]: Int], recordIndex: Int) -> [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(FileRecord.fixedSize + 64)
        data += file.hash.bytes
        data += file.id.bytes
        data += file.merkleRoot.bytes
        data.appendLE(file.fragmentSize)
        data.append(file.type)
        data.appendLE(file.format)
        data.appendLE(file.size)
        let written = file.tags.filter { !$0.isVirtual }
        data.appendLE(UInt16(written.count))
        for tag in written {
            if let target = tagIndex[tag.data] {
                let distance = Int64(target - recordIndex)
                data.appendLE(tag.type | 0x8000)
                if let v = Int16(exactly: distance) {
                    data.appendLE(UInt32(2)); data.appendLE(v)
                } else if let v = Int32(exactly: distance) {
                    data.appendLE(UInt32(4)); data.appendLE(v)
                } else {
                    data.appendLE(UInt32(8)); data.appendLE(distance)
                }
            } else {
                data.appendLE(tag.type & 0x7fff)
                data.appendLE(UInt32(tag.data.count))
                data += tag.data
            }
        }
        return data
    }

    /// Splits `files` (in order) into groups whose encoded block, `encode` with its TagData
    /// sharing, is at most `limit` bytes: the exact size, where the reference's estimate
    /// (`estimatedSize`) ignores the sharing and left blocks of repeated folder names well
    /// under what readers fetch. A file that alone exceeds the limit still gets a group.
    public static func packedGroups(_ files: [FileRecord], limit: Int) -> [[FileRecord]] {
        var groups: [[FileRecord]] = []
        var current: [FileRecord] = []
        var size = Block.headerSize
        // Per tag value (> 4 bytes) in the group: how often it occurs, and whether its first
        // occurrence was written inline (it becomes a reference at the second occurrence).
        var seen: [[UInt8]: (count: Int, firstWritten: Bool)] = [:]

        /// The bytes `file` adds to the group, and the tag values it updates.
        func cost(_ file: FileRecord) -> (Int, [[UInt8]: (count: Int, firstWritten: Bool)]) {
            var delta = BlockRecord.headerSize + FileRecord.fixedSize
            var updates: [[UInt8]: (count: Int, firstWritten: Bool)] = [:]
            for tag in file.tags {
                let written = !tag.isVirtual
                guard tag.data.count > 4 else {
                    if written { delta += 6 + tag.data.count }
                    continue
                }
                let before = updates[tag.data] ?? seen[tag.data] ?? (0, false)
                if written { delta += before.count >= 1 ? 6 + 2 : 6 + tag.data.count }
                if before.count == 1 {
                    // The second occurrence: a TagData record, and the first one turns into a
                    // 2-byte reference (blocks of <= 50 KB have < 32,768 records).
                    delta += BlockRecord.headerSize + tag.data.count
                    if before.firstWritten { delta -= tag.data.count - 2 }
                }
                updates[tag.data] = (before.count + 1, before.count == 0 ? written : before.firstWritten)
            }
            return (delta, updates)
        }

        for file in files {
            var (delta, updates) = cost(file)
            if !current.isEmpty && size + delta > limit {
                groups.append(current)
                current = []
                size = Block.headerSize
                seen = [:]
                (delta, updates) = cost(file)
            }
            current.append(file)
            size += delta
            seen.merge(updates) { _, new in new }
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    /// The reference's size estimate of a file record, used to pack records into blocks.
    public static func estimatedSize(_ file: FileRecord) -> Int {
        BlockRecord.headerSize + FileRecord.fixedSize + file.tags.filter { !$0.isVirtual }.reduce(0) { $0 + 6 + $1.data.count }
    }

    /// Decodes the file record at `index` of `records`, resolving TagData references and
    /// appending the virtual "date shared" tag from the record date.
    public static func decode(_ records: [BlockRecord], index: Int) throws(BlockchainError) -> FileRecord {
        let record = records[index]
        var r = ByteReader(record.data, what: "file record")
        var file: FileRecord
        let count: Int
        do {
            file = FileRecord(hash: try r.hash(), id: try r.transferID(), merkleRoot: try r.hash(), fragmentSize: try r.u64le(),
                              type: try r.u8(), format: try r.u16le(), size: try r.u64le(), tags: [])
            count = Int(try r.u16le())
        } catch {
            throw .invalidRecord(index: index, reason: "file record shorter than \(FileRecord.fixedSize) bytes")
        }
        for t in 0..<count {
            let typeField: UInt16, value: [UInt8]
            do {
                typeField = try r.u16le()
                let length = Int(try r.u32le())
                value = try r.take(length)
            } catch {
                throw .invalidTag(record: index, reason: "\(t) runs past the record")
            }
            if typeField & 0x8000 != 0 {
                let distance: Int64
                switch value.count {
                case 2: distance = Int64(value.loadLE(Int16.self, at: 0))
                case 4: distance = Int64(value.loadLE(Int32.self, at: 0))
                case 8: distance = value.loadLE(Int64.self, at: 0)
                default: throw .invalidTag(record: index, reason: "\(t) reference of \(value.count) bytes (must be 2, 4 or 8)")
                }
                let (target, overflow) = Int64(index).addingReportingOverflow(distance)
                guard !overflow, target >= 0, target < Int64(records.count), records[Int(target)].type == .tagData else {
                    throw .invalidTag(record: index, reason: "\(t) refers to record \(target), which is not a TagData record")
                }
                file.tags.append(FileTag(type: typeField & 0x7fff, data: records[Int(target)].data))
            } else {
                file.tags.append(FileTag(type: typeField, data: value))
            }
        }
        file.tags.append(FileTag(type: FileTag.dateShared, date: record.date))
        return file
    }
}
