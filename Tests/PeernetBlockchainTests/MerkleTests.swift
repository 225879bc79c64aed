import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import TestSupport
import XCTest

final class MerkleTests: XCTestCase {
    func testVectors() throws {
        let file = try Vectors.load("merkle.json")
        let vectors = file["vectors"].array
        XCTAssertEqual(vectors.count, 13)
        for v in vectors {
            let name = v["name"].string
            let size = Int(v["file_size"].uint64)
            let data = pattern(size)
            let fragment = v["fragment_size"].uint64
            let count = Int(v["fragment_count"].int)
            let leaves: [Hash256] = count >= 2 ? (0..<count).map { i in
                Hash256.blake3(data[(i * Int(fragment))..<min(size, (i + 1) * Int(fragment))])
            } : []
            // Streaming leaf hashing in odd chunk sizes gives the same leaves.
            var streaming = MerkleLeafHasher(fragmentSize: fragment)
            var offset = 0
            while offset < size {
                let n = min(size - offset, 99_991)
                data.withUnsafeBytes { streaming.update(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
                offset += n
            }
            if count >= 2 { XCTAssertEqual(streaming.finish(), leaves, name) }
            let tree = MerkleTree(fileSize: UInt64(size), fragmentSize: fragment, fragmentHashes: leaves, fileHash: Hash256.blake3(data))
            XCTAssertEqual(tree.root.hex, v["root_hash"].string, name)
            XCTAssertEqual(tree.fragmentHashes.map(\.hex), v["fragment_hashes"].array.map(\.string), name)
            XCTAssertEqual(tree.middleLevels.map { $0.map(\.hex) }, v["middle_hashes"].array.map { $0.array.map(\.string) }, name)
            XCTAssertEqual(hexString(tree.export()), v["export"].string, name)
            XCTAssertEqual(try MerkleTree.importTree(tree.export()), tree, name)
            if fragment == MerkleTree.fragmentSize(forFileSize: UInt64(size)) { XCTAssertEqual(MerkleTree(data: data), tree, name) }
            for p in v["proofs"].array {
                let entries = p["verification_hashes"].array.map { e -> MerkleProofEntry in
                    let b = e.bytes
                    return MerkleProofEntry(siblingOnRight: b[0] == 1, hash: Hash256(b[1...])!)
                }
                let index = p["fragment"].int
                if p["valid"].bool { XCTAssertEqual(tree.proof(fragment: index), entries, "\(name) proof \(index)") }
                XCTAssertEqual(MerkleTree.verify(fragmentHash: Hash256(p["fragment_hash"].bytes)!, proof: entries, root: tree.root),
                               p["valid"].bool, "\(name) proof \(index)")
            }
        }
        for f in file["fragment_sizes"].array {
            XCTAssertEqual(MerkleTree.fragmentSize(forFileSize: f["file_size"].uint64), f["fragment_size"].uint64, "\(f["file_size"].uint64)")
        }
    }

    func testFragmentVerificationAndCorruptCompanions() throws {
        let data = (0..<(5 * 262_144 + 77)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let tree = MerkleTree(data: data)
        XCTAssertEqual(tree.fragmentCount, 6)
        for i in 0..<6 {
            let fragment = Array(data[(i * 262_144)..<min(data.count, (i + 1) * 262_144)])
            XCTAssertTrue(tree.verify(fragment: i, data: fragment))
            var bad = fragment
            bad[bad.count / 2] ^= 1
            XCTAssertFalse(tree.verify(fragment: i, data: bad))
        }
        var corrupt = tree.export()
        corrupt[60] ^= 1
        XCTAssertThrowsError(try MerkleTree.importTree(corrupt))
        XCTAssertThrowsError(try MerkleTree.importTree(Array(tree.export().dropLast(32))))
        XCTAssertThrowsError(try MerkleTree.importTree([1, 2, 3]))
    }

    /// A companion file comes from peers (tree requests): its sizes are hostile input.
    /// A file size near 2^64 overflowed the fragment count and trapped the downloader.
    func testHostileCompanionSizesAreRefusedWithoutTrapping() {
        XCTAssertEqual(MerkleTree.fragmentCount(fileSize: UInt64.max, fragmentSize: 2), 1 << 63)
        XCTAssertEqual(MerkleTree.fragmentCount(fileSize: UInt64.max, fragmentSize: 1), UInt64.max)
        XCTAssertEqual(MerkleTree.fragmentCount(fileSize: 10, fragmentSize: 5), 2)
        XCTAssertEqual(MerkleTree.fragmentCount(fileSize: 11, fragmentSize: 5), 3)
        for (size, fragment) in [(UInt64.max, UInt64(2)), (UInt64.max, 1), (1 << 40, 262_144)] {
            var raw: [UInt8] = []
            withUnsafeBytes(of: size.littleEndian) { raw += $0 }
            withUnsafeBytes(of: fragment.littleEndian) { raw += $0 }
            raw += [UInt8](repeating: 7, count: 32 + 64)
            XCTAssertThrowsError(try MerkleTree.importTree(raw), "size \(size) fragment \(fragment)")
        }
    }
}
