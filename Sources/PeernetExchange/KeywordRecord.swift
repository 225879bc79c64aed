import PeernetCrypto
import PeernetProtocol

/// A signed keyword record of the network search extension: "`owner` shares file `fileID`
/// (content `fileHash`) in block `block` of chain version `chainVersion`, and it is indexed
/// under `word`". Stored at the DHT nodes closest to the word's key; a searcher verifies the
/// signature, then the file against the owner's chain. An `expires` of 0 withdraws the record.
///
/// Layout (210 bytes): word(32) owner(33) fileID(16) fileHash(32) size(8) chainVersion(8)
/// block(8) expires(8, Unix seconds) signature(65, over BLAKE3 of the preceding 145 bytes).
public struct KeywordRecord: Equatable, Hashable, Sendable {
    public static let size = 210
    public var word: Hash256
    public var owner: PublicKey
    public var fileID: TransferID
    public var fileHash: Hash256
    public var fileSize: UInt64
    public var chainVersion: UInt64
    public var block: UInt64
    public var expires: UInt64
    public var signature: [UInt8]

    func signedPart() -> [UInt8] {
        var out = word.bytes + owner.compressed + fileID.bytes + fileHash.bytes
        for v in [fileSize, chainVersion, block, expires] { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        return out
    }

    public static func signed(by key: PrivateKey, word: Hash256, fileID: TransferID, fileHash: Hash256, fileSize: UInt64,
                              chainVersion: UInt64, block: UInt64, expires: UInt64) throws -> KeywordRecord {
        var r = KeywordRecord(word: word, owner: key.publicKey, fileID: fileID, fileHash: fileHash, fileSize: fileSize,
                              chainVersion: chainVersion, block: block, expires: expires, signature: [])
        r.signature = try key.sign(digest: BLAKE3.hash(r.signedPart()))
        return r
    }

    /// The signature recovers to the owner.
    public var isAuthentic: Bool {
        (try? PublicKey.recover(signature: signature, digest: BLAKE3.hash(signedPart()))) == owner
    }

    public func encode() -> [UInt8] { signedPart() + signature }

    public static func decode(_ b: ArraySlice<UInt8>) -> KeywordRecord? {
        guard b.count == size else { return nil }
        var r = ByteReader(b, what: "keyword record")
        return try? KeywordRecord(word: r.hash(), owner: PublicKey(bytes: r.take(33)), fileID: r.transferID(), fileHash: r.hash(),
                                  fileSize: r.u64le(), chainVersion: r.u64le(), block: r.u64le(), expires: r.u64le(),
                                  signature: r.take(65))
    }
}

/// A signed provider record: "`provider` holds the complete content `hash` (`size` bytes)".
/// Stored at the DHT nodes closest to the content hash; downloaders look holders up there.
/// Layout (146 bytes): hash(32) provider(33) size(8) expires(8) signature(65 over the rest).
public struct ProviderRecord: Equatable, Hashable, Sendable, SignedDHTRecord {
    public static let size = 146
    public var hash: Hash256
    public var owner: PublicKey
    public var fileSize: UInt64
    public var expires: UInt64
    public var signature: [UInt8]

    var key: Hash256 { hash }
    var item: [UInt8] { hash.bytes }

    func signedPart() -> [UInt8] {
        var out = hash.bytes + owner.compressed
        for v in [fileSize, expires] { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        return out
    }

    public static func signed(by key: PrivateKey, hash: Hash256, fileSize: UInt64, expires: UInt64) throws -> ProviderRecord {
        var r = ProviderRecord(hash: hash, owner: key.publicKey, fileSize: fileSize, expires: expires, signature: [])
        r.signature = try key.sign(digest: BLAKE3.hash(r.signedPart()))
        return r
    }

    public var isAuthentic: Bool {
        (try? PublicKey.recover(signature: signature, digest: BLAKE3.hash(signedPart()))) == owner
    }

    public func encode() -> [UInt8] { signedPart() + signature }

    public static func decode(_ b: ArraySlice<UInt8>) -> ProviderRecord? {
        guard b.count == size else { return nil }
        var r = ByteReader(b, what: "provider record")
        return try? ProviderRecord(hash: r.hash(), owner: PublicKey(bytes: r.take(33)), fileSize: r.u64le(), expires: r.u64le(),
                                   signature: r.take(65))
    }
}

/// Messages of the search extension (command 32; reference nodes ignore unknown commands).
/// Byte 0 is the kind: 1 STORE keyword records / 2 stored count; 3 FIND keyword keys / 4 found
/// records; 5 STORE provider records / 6 stored count; 7 FIND providers of hashes / 8 found.
enum SearchMessage {
    static let command = Command(rawValue: 32)
    static let maxKeys = 16
    static let maxRecordsPerReply = 300

    static func store(_ records: [KeywordRecord]) -> [UInt8] { list(1, records.map { $0.encode() }) }
    static func find(_ keys: [Hash256]) -> [UInt8] { list(3, keys.map(\.bytes)) }
    static func found(_ records: [KeywordRecord]) -> [UInt8] { list(4, records.map { $0.encode() }) }
    static func storeProviders(_ records: [ProviderRecord]) -> [UInt8] { list(5, records.map { $0.encode() }) }
    static func findProviders(_ keys: [Hash256]) -> [UInt8] { list(7, keys.map(\.bytes)) }
    static func foundProviders(_ records: [ProviderRecord]) -> [UInt8] { list(8, records.map { $0.encode() }) }

    static func list(_ kind: UInt8, _ items: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = [kind, UInt8(items.count & 0xff), UInt8(items.count >> 8)]
        for i in items { out += i }
        return out
    }

    static func providers(_ payload: [UInt8]) -> [ProviderRecord]? {
        guard let n = count(payload), n <= maxRecordsPerReply, payload.count == 3 + n * ProviderRecord.size else { return nil }
        return (0..<n).compactMap { i in ProviderRecord.decode(payload[(3 + i * ProviderRecord.size)..<(3 + (i + 1) * ProviderRecord.size)]) }
    }

    static func count(_ payload: [UInt8]) -> Int? {
        guard payload.count >= 3 else { return nil }
        return Int(payload[1]) | Int(payload[2]) << 8
    }

    /// Records of a STORE or FOUND payload; nil if the count does not match the bytes.
    static func records(_ payload: [UInt8]) -> [KeywordRecord]? {
        guard let n = count(payload), n <= maxRecordsPerReply, payload.count == 3 + n * KeywordRecord.size else { return nil }
        return (0..<n).compactMap { i in KeywordRecord.decode(payload[(3 + i * KeywordRecord.size)..<(3 + (i + 1) * KeywordRecord.size)]) }
    }

    static func keys(_ payload: [UInt8]) -> [Hash256]? {
        guard let n = count(payload), n <= maxKeys, payload.count == 3 + n * 32 else { return nil }
        var r = ByteReader(payload[3...], what: "search keys")
        return try? (0..<n).map { _ in try r.hash() }
    }
}

/// A record of the search extension stored in the DHT under `key`, signed by `owner`.
protocol SignedDHTRecord: Hashable, Sendable {
    var key: Hash256 { get }
    var owner: PublicKey { get }
    /// What a newer record of the same owner replaces (file ID, or the content hash).
    var item: [UInt8] { get }
    var expires: UInt64 { get }
    var isAuthentic: Bool { get }
}

extension SignedDHTRecord {
    var isWithdrawal: Bool { expires == 0 }
}

extension KeywordRecord: SignedDHTRecord {
    var key: Hash256 { word }
    var item: [UInt8] { fileID.bytes }
}

/// The records this node keeps for others, with expiry and per-key limits (spam resistance:
/// a key holds at most `perKey` records, at most `perOwner` of them from one owner).
struct RecordStore<R: SignedDHTRecord> {
    var records: [Hash256: [R]] = [:]
    var total = 0
    let perKey = 256
    let perOwner = 32
    let maxTotal = 200_000
    let maxLifetime: UInt64 = 48 * 3600

    /// Stores authentic records (a withdrawal removes the owner's matching record).
    mutating func store(_ incoming: [R], now: UInt64) -> Int {
        var stored = 0
        for r in incoming where r.isAuthentic {
            var list = records[r.key] ?? []
            let before = list.count
            list.removeAll { $0.owner == r.owner && $0.item == r.item }
            total -= before - list.count
            if r.isWithdrawal {
                records[r.key] = list.isEmpty ? nil : list
                continue
            }
            guard r.expires > now, r.expires <= now + maxLifetime, total < maxTotal, list.count < perKey,
                  list.filter({ $0.owner == r.owner }).count < perOwner else {
                records[r.key] = list.isEmpty ? nil : list
                continue
            }
            list.append(r)
            records[r.key] = list
            total += 1
            stored += 1
        }
        return stored
    }

    func find(_ key: Hash256, now: UInt64, limit: Int) -> [R] {
        Array((records[key] ?? []).filter { $0.expires > now }.prefix(limit))
    }

    mutating func expire(now: UInt64) {
        for (key, list) in records {
            let kept = list.filter { $0.expires > now }
            total -= list.count - kept.count
            records[key] = kept.isEmpty ? nil : kept
        }
    }
}

typealias KeywordStore = RecordStore<KeywordRecord>
typealias ProviderStore = RecordStore<ProviderRecord>
