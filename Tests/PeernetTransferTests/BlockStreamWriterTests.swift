import PeernetProtocol
@testable import PeernetTransfer
import XCTest

/// The holder's side of Get Block: whatever a request asks for, the reply is bounded and made
/// a piece at a time.
final class BlockStreamWriterTests: XCTestCase {
    /// ~4,000 ranges past the height (one 65 KB packet) once made the holder build a reply of
    /// ~400 MB in memory (RSS 31 -> 616 MB for one packet).
    func testRangesPastTheHeightAreBounded() {
        let ranges = (0..<GetBlockMessage.maxRanges).map { BlockRange(offset: 1_000 + UInt64($0), count: .max) }
        var writer = BlockStreamWriter(ranges: ranges, limit: .max, maxBlockSize: 50_096, height: 3)
        var total = 0, largest = 0
        while !writer.isFinished {
            let piece = writer.next(64 << 10) { _ in XCTFail("no block exists past the height"); return nil }
            total += piece.count
            largest = max(largest, piece.count)
        }
        let limits = BlockStreamWriter.Limits()
        XCTAssertEqual(UInt64(total), limits.maxHeaders * UInt64(BlockTransferHeader.size))
        XCTAssertLessThan(largest, (64 << 10) + BlockTransferHeader.size)
    }

    /// Every range covering the whole chain again, with no limit: the block bytes stop at the cap.
    func testRepeatedRangesAreBoundedInBytes() {
        let block = [UInt8](repeating: 7, count: 50_000)
        let ranges = (0..<GetBlockMessage.maxRanges).map { _ in BlockRange(offset: 0, count: 10) }
        var writer = BlockStreamWriter(ranges: ranges, limit: .max, maxBlockSize: 50_096, height: 10)
        var total: UInt64 = 0, pieces = 0
        while !writer.isFinished {
            let piece = writer.next(1 << 20) { _ in block }
            total += UInt64(piece.count)
            pieces += 1
            XCTAssertLessThanOrEqual(piece.count, (1 << 20) + 50_025)
        }
        let limits = BlockStreamWriter.Limits()
        XCTAssertLessThanOrEqual(total, limits.maxBlockBytes + limits.maxHeaders * 25)
        XCTAssertGreaterThan(total, limits.maxBlockBytes - 50_025)
        XCTAssertGreaterThan(pieces, 60)
    }

    /// Honest requests get what they always got: per-range limit (the reference's quirk),
    /// missing and oversized blocks.
    func testHonestRequestsAreServedAsBefore() throws {
        let blocks: [UInt64: [UInt8]] = [0: [1, 2, 3], 1: [UInt8](repeating: 4, count: 100), 2: [5]]
        let stream = BlockStreamWriter.stream(ranges: [BlockRange(offset: 0, count: 4), BlockRange(offset: 2, count: 1)],
                                              limit: 2, maxBlockSize: 50, height: 3) { blocks[$0] }
        var reader = BlockStreamReader(ranges: [BlockRange(offset: 0, count: 4), BlockRange(offset: 2, count: 1)], maxBlockSize: 50)
        let items = try reader.feed(stream)
        XCTAssertEqual(items, [.block(number: 0, raw: [1, 2, 3]), .missing(number: 1, availability: .sizeExceeded),
                               .block(number: 2, raw: [5]), .block(number: 2, raw: [5])])
    }
}
