import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetSupport
import XCTest

/// File records are packed by their exact encoded size (with TagData sharing) up to the
/// 50,096 bytes readers fetch: every block fits, and each but the last is full (the next file
/// would not have fit).
final class BlockPackingTests: XCTestCase {
    func files(_ count: Int, folders: Int, seed: UInt64) -> [FileRecord] {
        var rng = SplitMix64(seed: seed)
        func next() -> UInt64 { rng.next() }
        return (0..<count).map { i in
            let name = "photo \(i) " + String(repeating: "x", count: Int(next() % 40)) + ".jpg"
            let h = Hash256.blake3(Array(name.utf8))
            var tags = [FileTag(type: FileTag.name, text: name),
                        FileTag(type: FileTag.folder, text: "holidays/summer \(Int(next() % UInt64(folders)))"),
                        FileTag(type: FileTag.dateCreated, date: 1_700_000_000 + Int64(next() % 3))]
            if i % 7 == 0 { tags.append(FileTag(type: FileTag.dateShared, date: 1_700_000_000)) }  // virtual: counted, not written
            return FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: 1, format: 5, size: UInt64(i), tags: tags)
        }
    }

    func encodedSize(_ group: [FileRecord]) -> Int {
        Block.headerSize + FileRecordCodec.encode(group, date: 1_700_000_000).reduce(0) { $0 + BlockRecord.headerSize + $1.data.count }
    }

    func testBlocksAreFullAndFit() {
        let limit = 50_096
        for (count, folders, seed) in [(3000, 3, UInt64(1)), (5000, 400, 2), (800, 1, 3)] {
            let all = files(count, folders: folders, seed: seed)
            let groups = FileRecordCodec.packedGroups(all, limit: limit)
            XCTAssertEqual(groups.flatMap { $0 }.map(\.id), all.map(\.id), "every file once, in order")
            var start = 0
            for (i, group) in groups.enumerated() {
                let size = encodedSize(group)
                XCTAssertLessThanOrEqual(size, limit, "block \(i) of \(count) files")
                start += group.count
                if i < groups.count - 1 {
                    XCTAssertGreaterThan(encodedSize(group + [all[start]]), limit, "block \(i) could have held one more file (\(size) bytes)")
                }
            }
            // Against the reference's estimate (no sharing) at the same limit: fewer blocks.
            let estimated = BlockPacker.groups(all, target: limit, estimate: FileRecordCodec.estimatedSize)
            XCTAssertLessThan(groups.count, estimated.count, "\(count) files in \(folders) folders")
        }
    }
}
