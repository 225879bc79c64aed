import PeernetCrypto
import PeernetProtocol

/// One step of a Merkle proof: the sibling hash and on which side it goes (data.md §4.3).
public struct MerkleProofEntry: Equatable, Sendable {
    /// true: h = blake3(h ‖ sibling) (byte 1); false: h = blake3(sibling ‖ h) (byte 0).
    public var siblingOnRight: Bool
    public var hash: Hash256
    public init(siblingOnRight: Bool, hash: Hash256) {
        self.siblingOnRight = siblingOnRight
        self.hash = hash
    }
    public var encoded: [UInt8] { [siblingOnRight ? 1 : 0] + hash.bytes }
}

/// The Merkle tree of a file (data.md §4): fragments of a size chosen from the file size,
/// leaf = blake3(fragment), parent = blake3(left ‖ right), an odd last node moves up unchanged.
/// With 0 or 1 fragments the root is blake3 of the whole file and there are no stored levels.
public struct MerkleTree: Equatable, Sendable {
    public let fileSize: UInt64
    public let fragmentSize: UInt64
    public let root: Hash256
    /// Leaf hashes (empty when there are fewer than 2 fragments).
    public let fragmentHashes: [Hash256]
    /// Levels above the leaves, bottom-up, without the root level.
    public let middleLevels: [[Hash256]]

    public static let minimumFragmentSize: UInt64 = 262_144

    /// The reference's fragment size for a file of `size` bytes (§4.1).
    public static func fragmentSize(forFileSize size: UInt64) -> UInt64 {
        let KiB: UInt64 = 1024, MiB = KiB * 1024, GiB = MiB * 1024, TiB = GiB * 1024, PiB = TiB * 1024
        let table: [(UInt64, UInt64)] = [
            (256 * MiB, 256 * KiB), (GiB, 512 * KiB), (2 * GiB, MiB), (4 * GiB, 2 * MiB), (8 * GiB, 8 * MiB),
            (16 * GiB, 16 * MiB), (32 * GiB, 32 * MiB), (64 * GiB, 64 * MiB), (TiB, 64 * MiB), (2 * TiB, 128 * MiB),
            (PiB, 512 * MiB),
        ]
        return table.first { size <= $0.0 }?.1 ?? GiB
    }

    /// Without overflow: sizes come from the wire (a hostile Merkle companion with a file
    /// size near 2^64 trapped the downloader that asked for it).
    public static func fragmentCount(fileSize: UInt64, fragmentSize: UInt64) -> UInt64 {
        fragmentSize == 0 ? 0 : fileSize / fragmentSize + (fileSize % fragmentSize == 0 ? 0 : 1)
    }

    /// Builds the tree from the fragment hashes (for 2 or more fragments) or from the whole
    /// file's hash (for 0 or 1).
    public init(fileSize: UInt64, fragmentSize: UInt64, fragmentHashes: [Hash256], fileHash: Hash256) {
        self.fileSize = fileSize
        self.fragmentSize = fragmentSize
        guard fragmentHashes.count >= 2 else {
            self.root = fileHash
            self.fragmentHashes = []
            self.middleLevels = []
            return
        }
        self.fragmentHashes = fragmentHashes
        var levels: [[Hash256]] = []
        var level = fragmentHashes
        while level.count > 1 {
            var next: [Hash256] = []
            next.reserveCapacity((level.count + 1) / 2)
            var i = 0
            while i + 1 < level.count {
                next.append(Hash256.blake3(level[i].bytes + level[i + 1].bytes))
                i += 2
            }
            if level.count % 2 == 1 { next.append(level[level.count - 1]) }
            if next.count > 1 { levels.append(next) }
            level = next
        }
        self.middleLevels = levels
        self.root = level[0]
    }

    /// Builds the tree of in-memory data (tests, small files).
    public init(data: [UInt8]) {
        let size = UInt64(data.count)
        let fragment = Self.fragmentSize(forFileSize: size)
        let count = Int(Self.fragmentCount(fileSize: size, fragmentSize: fragment))
        let leaves = count >= 2 ? (0..<count).map { i in
            Hash256.blake3(data[(i * Int(fragment))..<min(data.count, (i + 1) * Int(fragment))])
        } : []
        self.init(fileSize: size, fragmentSize: fragment, fragmentHashes: leaves, fileHash: Hash256.blake3(data))
    }

    public var fragmentCount: Int { Int(Self.fragmentCount(fileSize: fileSize, fragmentSize: fragmentSize)) }

    /// The proof for fragment `index`, leaf level upwards; empty for trees of 0 or 1 fragments.
    public func proof(fragment index: Int) -> [MerkleProofEntry] {
        guard fragmentHashes.count >= 2, index >= 0, index < fragmentHashes.count else { return [] }
        var out: [MerkleProofEntry] = []
        var j = index
        for level in [fragmentHashes] + middleLevels {
            if j == level.count - 1 && level.count % 2 == 1 {
                // The last node of an odd level moves up unchanged.
            } else if j % 2 == 0 {
                out.append(MerkleProofEntry(siblingOnRight: true, hash: level[j + 1]))
            } else {
                out.append(MerkleProofEntry(siblingOnRight: false, hash: level[j - 1]))
            }
            j /= 2
        }
        return out
    }

    /// Checks a fragment's hash against `root` with its proof.
    public static func verify(fragmentHash: Hash256, proof: [MerkleProofEntry], root: Hash256) -> Bool {
        var h = fragmentHash
        for entry in proof {
            h = entry.siblingOnRight ? Hash256.blake3(h.bytes + entry.hash.bytes) : Hash256.blake3(entry.hash.bytes + h.bytes)
        }
        return h == root
    }

    /// Whether `data` is fragment `index` of this tree (hash and proof against the root).
    public func verify(fragment index: Int, data: [UInt8]) -> Bool {
        if fragmentHashes.isEmpty { return Hash256.blake3(data) == root }
        guard index < fragmentHashes.count else { return false }
        return Hash256.blake3(data) == fragmentHashes[index]
            && Self.verify(fragmentHash: fragmentHashes[index], proof: proof(fragment: index), root: root)
    }

    /// The companion file format (§4.4): sizes, root, leaves, middle levels.
    public func export() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(48 + 32 * (fragmentHashes.count + middleLevels.reduce(0) { $0 + $1.count }))
        out.appendLE(fileSize)
        out.appendLE(fragmentSize)
        out += root.bytes
        for h in fragmentHashes { out += h.bytes }
        for level in middleLevels { for h in level { out += h.bytes } }
        return out
    }

    /// Reads a companion file; checks its length and that the stored levels hash to the root.
    public static func importTree(_ raw: [UInt8]) throws(BlockchainError) -> MerkleTree {
        var r = ByteReader(raw, what: "Merkle companion")
        let fileSize: UInt64, fragmentSize: UInt64, root: Hash256
        do {
            fileSize = try r.u64le()
            fragmentSize = try r.u64le()
            root = try r.hash()
        } catch { throw .corrupt("Merkle companion shorter than 48 bytes") }
        guard fragmentSize > 0 || fileSize == 0 else { throw .corrupt("Merkle fragment size 0") }
        let count = fragmentCount(fileSize: fileSize, fragmentSize: fragmentSize)
        guard count >= 2 else { return MerkleTree(fileSize: fileSize, fragmentSize: fragmentSize, fragmentHashes: [], fileHash: root) }
        guard count <= UInt64(r.remaining / 32) else { throw .corrupt("Merkle companion too short for \(count) fragments") }
        var leaves: [Hash256] = []
        leaves.reserveCapacity(Int(count))
        do { for _ in 0..<Int(count) { leaves.append(try r.hash()) } } catch { throw .corrupt("Merkle companion too short for \(count) fragments") }
        let tree = MerkleTree(fileSize: fileSize, fragmentSize: fragmentSize, fragmentHashes: leaves, fileHash: root)
        guard tree.root == root, raw.count == tree.export().count else { throw .corrupt("Merkle companion does not match its root") }
        return tree
    }
}

/// Computes fragment hashes of a stream: feed bytes in any chunk sizes.
public struct MerkleLeafHasher: Sendable {
    public let fragmentSize: UInt64
    private var hasher = BLAKE3()
    private var inFragment: UInt64 = 0
    public private(set) var leaves: [Hash256] = []

    public init(fragmentSize: UInt64) { self.fragmentSize = fragmentSize }

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < buffer.count {
            let take = min(buffer.count - offset, Int(fragmentSize - inFragment))
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + take)]))
            inFragment += UInt64(take)
            offset += take
            if inFragment == fragmentSize {
                leaves.append(Hash256(hasher.finalize())!)
                hasher = BLAKE3()
                inFragment = 0
            }
        }
    }

    /// The leaf hashes including a final partial fragment.
    public func finish() -> [Hash256] {
        inFragment > 0 ? leaves + [Hash256(hasher.finalize())!] : leaves
    }
}
