import PeernetCrypto
import PeernetProtocol

/// Limits on blocks that arrive from other peers.
public struct BlockLimits: Sendable, Equatable {
    /// Bytes per block (the reference's cache asks for at most 50,096).
    public var maxBlockSize = 65_536
    public var maxRecords = 4096
    public var maxTagsPerFile = 256
    /// Bytes of one tag's data (names, folders, descriptions, custom data).
    public var maxTagSize = 16_384
    public init() {}
}

/// Validation of blocks received from strangers (the reference checks almost nothing, data.md
/// §1.2 and §2.5): the block must be signed by the chain's owner, sit at the expected number
/// and version, link to the previous block, stay within the limits, and every record must
/// decode with sane tags. A block that fails is rejected with the reason and never stored.
public enum BlockValidator {
    public static func validate(_ raw: [UInt8], owner: PublicKey, number: UInt64, version: UInt64,
                                previousHash: Hash256?, limits: BlockLimits = BlockLimits()) throws(BlockchainError) -> Block.Decoded {
        guard raw.count <= limits.maxBlockSize else { throw .tooLarge("block", size: raw.count, limit: limits.maxBlockSize) }
        let decoded = try Block.decode(raw, maxRecords: limits.maxRecords)
        guard decoded.owner == owner else { throw .wrongOwner }
        guard decoded.block.number == number else { throw .wrongNumber(expected: number, got: decoded.block.number) }
        guard decoded.block.version == version else { throw .wrongVersion(expected: version, got: decoded.block.version) }
        if number == 0 {
            guard decoded.block.previousHash == .zero else { throw .brokenLink(block: number) }
        } else if let previousHash, decoded.block.previousHash != previousHash {
            throw .brokenLink(block: number)
        }
        for (i, record) in decoded.block.records.enumerated() {
            switch record.type {
            case .file:
                let file = try FileRecordCodec.decode(decoded.block.records, index: i)
                guard file.tags.count <= limits.maxTagsPerFile + 1 else {
                    throw .invalidTag(record: i, reason: "count \(file.tags.count) exceeds \(limits.maxTagsPerFile)")
                }
                for tag in file.tags where tag.data.count > limits.maxTagSize {
                    throw .invalidTag(record: i, reason: "type \(tag.type) of \(tag.data.count) bytes exceeds \(limits.maxTagSize)")
                }
                for tag in file.tags where tag.type == FileTag.dateCreated && tag.data.count != 8 {
                    throw .invalidTag(record: i, reason: "date created of \(tag.data.count) bytes (must be 8)")
                }
                guard file.fragmentSize == MerkleTree.fragmentSize(forFileSize: file.size) else {
                    throw .invalidRecord(index: i, reason: "fragment size \(file.fragmentSize) does not fit a file of \(file.size) bytes")
                }
                if file.size <= MerkleTree.minimumFragmentSize && !file.isVirtualFolder {
                    guard file.merkleRoot == file.hash else { throw .invalidRecord(index: i, reason: "small file whose Merkle root is not its hash") }
                }
            case .profile:
                _ = try ProfileField.decode(record, index: i)
                guard record.data.count <= limits.maxBlockSize else { throw .invalidRecord(index: i, reason: "profile field too large") }
            default:
                continue  // TagData (checked through references) and reserved types are carried along
            }
        }
        return decoded
    }
}
