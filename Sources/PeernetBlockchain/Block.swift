import PeernetCrypto
import PeernetProtocol

/// One block of a blockchain (data.md §1.2): signature(65) ‖ previous hash(32) ‖ version(8) ‖
/// number(8) ‖ size(4) ‖ record count(2) ‖ records. The signature covers bytes 65...end; the
/// owner is whoever the signature recovers to.
public struct Block: Equatable, Sendable {
    public static let headerSize = 119
    public var previousHash: Hash256
    public var version: UInt64
    public var number: UInt64
    public var records: [BlockRecord]

    public init(previousHash: Hash256, version: UInt64, number: UInt64, records: [BlockRecord]) {
        self.previousHash = previousHash
        self.version = version
        self.number = number
        self.records = records
    }

    /// Encodes and signs. Block 0 always carries a zero previous hash.
    public func encode(signer: PrivateKey) throws(BlockchainError) -> [UInt8] {
        guard records.count <= Int(UInt16.max) else { throw .tooLarge("record count", size: records.count, limit: Int(UInt16.max)) }
        var raw = [UInt8](repeating: 0, count: 65)
        raw += number == 0 ? Hash256.zero.bytes : previousHash.bytes
        raw.appendLE(version)
        raw.appendLE(number)
        raw.appendLE(UInt32(0))
        raw.appendLE(UInt16(records.count))
        for r in records {
            raw.append(r.type.rawValue)
            raw.appendLE(r.date)
            raw.appendLE(UInt32(r.data.count))
            raw += r.data
        }
        guard raw.count <= Int(UInt32.max) else { throw .tooLarge("block", size: raw.count, limit: Int(UInt32.max)) }
        raw.storeLE(UInt32(raw.count), at: 113)
        let digest = raw.withUnsafeBytes { BLAKE3.hash(UnsafeRawBufferPointer(rebasing: $0[65...])) }
        do { raw.replaceSubrange(0..<65, with: try signer.sign(digest: digest)) } catch { throw .badSignature }
        return raw
    }

    /// A decoded block and the key that signed it.
    public struct Decoded: Equatable, Sendable {
        public var block: Block
        public var owner: PublicKey
        /// BLAKE3 of the raw bytes: the next block's previous hash.
        public var hash: Hash256
        public var size: Int
    }

    /// Decodes with the reference's checks (length, signature recovery, size field, record
    /// framing; bytes after the declared records are tolerated), plus optional limits.
    public static func decode(_ raw: [UInt8], maxRecords: Int = Int(UInt16.max)) throws(BlockchainError) -> Decoded {
        guard raw.count >= headerSize else { throw .truncated("block") }
        let digest = raw.withUnsafeBytes { BLAKE3.hash(UnsafeRawBufferPointer(rebasing: $0[65...])) }
        let owner: PublicKey
        do { owner = try PublicKey.recover(signature: Array(raw[0..<65]), digest: digest) } catch { throw .badSignature }
        let declared = Int(raw.loadLE(UInt32.self, at: 113))
        guard declared == raw.count else { throw .sizeMismatch(declared: declared, actual: raw.count) }
        let count = Int(raw.loadLE(UInt16.self, at: 117))
        guard count <= maxRecords else { throw .tooLarge("record count", size: count, limit: maxRecords) }
        guard count * BlockRecord.headerSize <= raw.count - headerSize else { throw .truncated("record list") }
        var records: [BlockRecord] = []
        records.reserveCapacity(count)
        var offset = headerSize
        for i in 0..<count {
            guard offset + BlockRecord.headerSize <= raw.count else { throw .invalidRecord(index: i, reason: "header runs past the block") }
            let type = RecordType(rawValue: raw[offset])
            let date = raw.loadLE(Int64.self, at: offset + 1)
            let length = Int(raw.loadLE(UInt32.self, at: offset + 9))
            offset += BlockRecord.headerSize
            guard length <= raw.count - offset else { throw .invalidRecord(index: i, reason: "data runs past the block") }
            records.append(BlockRecord(type: type, date: date, data: Array(raw[offset..<(offset + length)])))
            offset += length
        }
        let block = Block(previousHash: Hash256(raw[65..<97]) ?? .zero, version: raw.loadLE(UInt64.self, at: 97),
                          number: raw.loadLE(UInt64.self, at: 105), records: records)
        return Decoded(block: block, owner: owner, hash: Hash256.blake3(raw), size: raw.count)
    }

    /// Every file record, decoded (references resolved, date shared added).
    public func files() throws(BlockchainError) -> [FileRecord] {
        var out: [FileRecord] = []
        for i in records.indices where records[i].type == .file {
            out.append(try FileRecordCodec.decode(records, index: i))
        }
        return out
    }

    /// Every profile field, in record order.
    public func profileFields() throws(BlockchainError) -> [ProfileField] {
        var out: [ProfileField] = []
        for i in records.indices where records[i].type == .profile { out.append(try ProfileField.decode(records[i], index: i)) }
        return out
    }
}

/// The local header of the user's own chain (data.md §1.10), 83 bytes: height, version, format
/// (0) and a signature over BLAKE3 of the first 18 bytes. Never sent to peers.
public struct ChainHeader: Equatable, Sendable {
    public static let size = 83
    public var height: UInt64
    public var version: UInt64

    public init(height: UInt64, version: UInt64) {
        self.height = height
        self.version = version
    }

    public func encode(signer: PrivateKey) throws(BlockchainError) -> [UInt8] {
        var raw: [UInt8] = []
        raw.appendLE(height)
        raw.appendLE(version)
        raw.appendLE(UInt16(0))
        do { raw += try signer.sign(digest: BLAKE3.hash(raw)) } catch { throw .badSignature }
        return raw
    }

    /// Decodes and checks the signature belongs to `owner` (otherwise the store is corrupt).
    public static func decode(_ raw: [UInt8], owner: PublicKey) throws(BlockchainError) -> ChainHeader {
        guard raw.count == size else { throw .corrupt("chain header of \(raw.count) bytes") }
        guard raw.loadLE(UInt16.self, at: 16) == 0 else { throw .corrupt("unknown chain header format") }
        guard let signer = try? PublicKey.recover(signature: Array(raw[18..<83]), digest: BLAKE3.hash(raw[0..<18])),
              signer == owner else { throw .wrongOwner }
        return ChainHeader(height: raw.loadLE(UInt64.self, at: 0), version: raw.loadLE(UInt64.self, at: 8))
    }
}
