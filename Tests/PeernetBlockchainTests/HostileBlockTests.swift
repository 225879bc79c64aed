import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import TestSupport
import XCTest

extension Array where Element == UInt8 {
    mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { for (i, b) in $0.enumerated() { self[offset + i] = b } }
    }
}

/// Blocks from strangers: each forgery is rejected with its reason.
final class HostileBlockTests: XCTestCase {
    let owner = PrivateKey()

    func file(_ name: String, size: UInt64 = 10) -> FileRecord {
        let h = Hash256.blake3(Array(name.utf8))
        return FileRecord(hash: h, id: .random(), merkleRoot: h, fragmentSize: 262_144, type: 1, format: 10, size: size,
                          tags: [FileTag(type: FileTag.name, text: name), FileTag(type: FileTag.folder, text: "shared/folder")])
    }

    func block(_ number: UInt64, previous: Hash256 = .zero, version: UInt64 = 0, records: [BlockRecord]? = nil,
               signer: PrivateKey? = nil) throws -> [UInt8] {
        try Block(previousHash: previous, version: version, number: number,
                  records: records ?? FileRecordCodec.encode([file("a.txt"), file("b.txt")], date: 1_700_000_000)).encode(signer: signer ?? owner)
    }

    func expect(_ raw: [UInt8], number: UInt64 = 0, version: UInt64 = 0, previous: Hash256? = nil, _ want: (BlockchainError) -> Bool,
                _ label: String, limits: BlockLimits = BlockLimits()) {
        XCTAssertThrowsError(try BlockValidator.validate(raw, owner: owner.publicKey, number: number, version: version,
                                                         previousHash: previous, limits: limits), label) { error in
            guard let e = error as? BlockchainError else { return XCTFail("\(label): untyped \(error)") }
            XCTAssertTrue(want(e), "\(label): \(e)")
        }
    }

    func testValidChainPasses() throws {
        let b0 = try block(0)
        let d0 = try BlockValidator.validate(b0, owner: owner.publicKey, number: 0, version: 0, previousHash: nil)
        let b1 = try block(1, previous: d0.hash)
        XCTAssertNoThrow(try BlockValidator.validate(b1, owner: owner.publicKey, number: 1, version: 0, previousHash: d0.hash))
    }

    func testForgeriesAreRejected() throws {
        var sig = try block(0)
        sig[5] ^= 0xff
        expect(sig, { $0 == .badSignature || $0 == .wrongOwner }, "bad signature")
        expect(try block(0, signer: PrivateKey()), { $0 == .wrongOwner }, "another owner")
        let b0 = try Block.decode(try block(0))
        expect(try block(1, previous: Hash256.blake3([9])), number: 1, previous: b0.hash, { $0 == .brokenLink(block: 1) }, "broken link")
        // Block 0 always encodes a zero previous hash, so it validates whatever was asked.
        XCTAssertNoThrow(try BlockValidator.validate(try block(0, previous: Hash256.blake3([9])), owner: owner.publicKey, number: 0,
                                                     version: 0, previousHash: nil))
        expect(try block(3), number: 2, { $0 == .wrongNumber(expected: 2, got: 3) }, "wrong number")
        expect(try block(0, version: 5), version: 4, { $0 == .wrongVersion(expected: 4, got: 5) }, "stale version")
        var limits = BlockLimits()
        limits.maxBlockSize = 200
        expect(try block(0), { if case .tooLarge = $0 { return true }; return false }, "oversized", limits: limits)
        let good = try block(0)
        for cut in [0, 50, 118, 150, good.count - 1] {
            expect(Array(good.prefix(cut)), { _ in true }, "truncated to \(cut)")
        }
    }

    func testBrokenRecordsAndTags() throws {
        func rec(_ f: FileRecord, mutate: (inout [UInt8]) -> Void) -> [BlockRecord] {
            var data = FileRecordCodec.encode([f], date: 1)[0].data
            mutate(&data)
            return [BlockRecord(type: .file, date: 1, data: data)]
        }
        // A tag claiming 4 GiB of data.
        expect(try block(0, records: rec(file("a.txt")) { $0.storeLE(UInt32.max, at: 103) }), { if case .invalidTag = $0 { return true }; return false },
               "absurd tag length")
        // A file record cut below its fixed part.
        expect(try block(0, records: [BlockRecord(type: .file, date: 1, data: [UInt8](repeating: 0, count: 50))]),
               { if case .invalidRecord = $0 { return true }; return false }, "short file record")
        // A reference pointing at a file record instead of TagData, and one of 3 bytes.
        expect(try block(0, records: rec(file("a.txt")) { d in d.storeLE(UInt16(0x8000), at: 101); d.storeLE(UInt32(2), at: 103)
            d.replaceSubrange(107..<(107 + 5), with: [0, 0]) }), { if case .invalidTag = $0 { return true }; return false }, "self reference")
        // A profile record of one byte.
        expect(try block(0, records: [BlockRecord(type: .profile, date: 1, data: [7])]), { if case .invalidRecord = $0 { return true }; return false },
               "short profile")
        // A fragment size that does not match the size (would break downloads).
        var weird = file("big.bin", size: 10_000_000)
        weird.fragmentSize = 3
        expect(try block(0, records: FileRecordCodec.encode([weird], date: 1)), { if case .invalidRecord = $0 { return true }; return false },
               "fragment size")
        // 5000 tags.
        var many = file("many.txt")
        many.tags = (0..<5000).map { FileTag(type: 30, data: [UInt8($0 % 256)]) }
        expect(try block(0, records: FileRecordCodec.encode([many], date: 1)), { if case .invalidTag = $0 { return true }; return false },
               "too many tags", limits: { var l = BlockLimits(); l.maxBlockSize = 1 << 20; return l }())
        // Record count far beyond what the bytes hold.
        var lying = try block(0)
        lying.storeLE(UInt16(60_000), at: 117)
        expect(lying, { _ in true }, "record count beyond the data")
    }

    func testRandomMutationsNeverCrash() throws {
        let good = try block(0)
        for i in 0..<good.count {
            var m = good
            m[i] ^= UInt8(1 << (i % 8))
            _ = try? BlockValidator.validate(m, owner: owner.publicKey, number: 0, version: 0, previousHash: nil)
            _ = try? Block.decode(m).block.files()
        }
    }
}
