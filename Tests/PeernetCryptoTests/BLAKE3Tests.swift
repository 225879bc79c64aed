import Foundation
import CBLAKE3
import PeernetCrypto
import TestSupport
import XCTest

final class BLAKE3Tests: XCTestCase {
    private func input(of vector: JSON) -> [UInt8] {
        switch vector["input_kind"].string {
        case "pattern": return pattern(vector["input_len"].int)
        case "utf8": return Array(vector["input_text"].string.utf8)
        default: return vector["input_hex"].bytes
        }
    }

    func testReferenceVectors() throws {
        let file = try Vectors.load("blake3.json")
        let vectors = file["vectors"].array
        XCTAssertGreaterThan(vectors.count, 15)
        for v in vectors {
            let data = input(of: v)
            XCTAssertEqual(data.count, v["input_len"].int, v["name"].string)
            XCTAssertEqual(hexString(BLAKE3.hash(data)), v["blake3_256"].string, v["name"].string)
            var h = BLAKE3()
            h.update(data)
            XCTAssertEqual(hexString(h.finalize(outputLength: 64)), v["blake3_512"].string, v["name"].string)
        }
    }

    func testNodeIDsOfVectorKeys() throws {
        let file = try Vectors.load("blake3.json")
        for key in file["keys"].array {
            XCTAssertEqual(hexString(BLAKE3.hash(key["public_key_compressed"].bytes)), key["node_id"].string)
        }
    }

    /// Splitting the input at arbitrary points must not change the hash (the classic bugs:
    /// a stale partial block after a chunk reset, or finalising the last chunk too early).
    func testUnevenUpdatesMatchOneShot() {
        var rng = SystemRandomNumberGenerator()
        let sizes = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 8 * 1024, 8 * 1024 + 1,
                     9 * 1024 - 1, 16 * 1024 + 3, 33 * 1024 + 17, 100_000, 262_145]
        for size in sizes {
            let data = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = BLAKE3.hash(data)
            for _ in 0..<4 {
                var h = BLAKE3()
                var offset = 0
                while offset < size {
                    let step = min(size - offset, [1, 7, 64, 65, 1000, 1024, 4096, 9000].randomElement(using: &rng)!)
                    h.update(data[offset..<(offset + step)])
                    offset += step
                }
                XCTAssertEqual(h.finalize(), expected, "size \(size)")
            }
        }
    }

    func testFinalizeDoesNotConsumeState() {
        var h = BLAKE3()
        h.update(Array("abc".utf8))
        let first = h.finalize()
        XCTAssertEqual(first, h.finalize())
        XCTAssertEqual(hexString(first), "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85")
        h.update(Array("def".utf8))
        XCTAssertEqual(h.finalize(), BLAKE3.hash(Array("abcdef".utf8)))
    }

    func testExtendedOutputPrefixesAgree() {
        let data = pattern(5000)
        var h = BLAKE3()
        h.update(data)
        let long = h.finalize(outputLength: 1000)
        XCTAssertEqual(Array(long.prefix(32)), h.finalize())
        XCTAssertEqual(Array(long.prefix(131)), h.finalize(outputLength: 131))
    }
}

/// Cross-checks against the `b3sum` tool (Debian package b3sum) on real files.
final class BLAKE3AgainstB3sumTests: XCTestCase {
    private func b3sumPath() throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/b3sum") {
            return dir + "/b3sum"
        }
        FileHandle.standardError.write(Data("notice: b3sum not installed; b3sum cross-check skipped (apt-get install b3sum)\n".utf8))
        throw XCTSkip("b3sum is not installed")
    }

    private func run(_ tool: String, _ args: [String], stdin: Data? = nil) throws -> String {
        let r = try runProcess(URL(fileURLWithPath: tool), args, stdin: stdin, timeout: 300)
        XCTAssertEqual(r.status, 0)
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testFilesOfOddSizesUpTo64MiB() throws {
        let b3sum = try b3sumPath()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pn-b3-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let urandom = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        defer { try? urandom.close() }
        let sizes = [0, 1, 3, 1023, 1025, 7 * 1024 + 1, 8 * 1024 + 1, 65_537, 1_048_579, 9_999_991,
                     64 * 1024 * 1024 - 1, 64 * 1024 * 1024 + 1]
        for size in sizes {
            let data = [UInt8](urandom.readData(ofLength: size))
            XCTAssertEqual(data.count, size)
            let url = dir.appendingPathComponent("f\(size)")
            try Data(data).write(to: url)
            let expected = try run(b3sum, ["--no-names", url.path])
            // Uneven update sizes: a prime-ish read size that straddles chunk boundaries.
            var h = BLAKE3()
            var offset = 0
            var step = 1
            while offset < size {
                let n = min(size - offset, step)
                data.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
                offset += n
                step = step * 7 % 1_048_573 + 13
            }
            XCTAssertEqual(hexString(h.finalize()), expected, "size \(size)")
        }
    }

    func testKeyedDeriveAndLongOutputAgainstB3sum() throws {
        let b3sum = try b3sumPath()
        let data = Data(pattern(70_001))
        let key = (0..<32).map { UInt8($0 &* 7 &+ 1) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pn-b3k-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("in")
        try data.write(to: file)

        var keyed = BLAKE3(key: key)
        keyed.update(data)
        XCTAssertEqual(hexString(keyed.finalize()),
                       try run(b3sum, ["--keyed", "--no-names", file.path], stdin: Data(key)))

        var derive = BLAKE3(deriveKeyContext: "peernet-swift 2026-11-21 test context")
        derive.update(data)
        XCTAssertEqual(hexString(derive.finalize()),
                       try run(b3sum, ["--derive-key", "peernet-swift 2026-11-21 test context", "--no-names", file.path]))

        var plain = BLAKE3()
        plain.update(data)
        XCTAssertEqual(hexString(plain.finalize(outputLength: 300)),
                       try run(b3sum, ["--length", "300", "--no-names", file.path]))
    }
}

/// Each wide kernel (AVX2 8-lane, AVX-512 16-lane) must give the same chunk chaining values as
/// the portable Swift path, including chunk counters above 2^32 and keyed flags.
final class BLAKE3KernelTests: XCTestCase {
    func testWideKernelsAgreeWithPortablePath() throws {
        let data = (0..<(16 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 167 &+ ($0 >> 10)) }
        var ran = 0
        for lanes in [8, 16] {
            for (counter, keyed) in [(UInt64(0), false), (UInt64(0xFFFF_FFF9), false), (UInt64(5), true)] {
                let key: [UInt32] = keyed ? (0..<8).map { UInt32($0) &* 0x0101_0101 } : BLAKE3KernelTests.iv
                let flags: UInt32 = keyed ? 16 : 0
                var out = [UInt32](repeating: 0, count: 8 * lanes)
                let done = data.withUnsafeBufferPointer { d in
                    peernet_blake3_hash_chunks_lanes(Int32(lanes), d.baseAddress!, key, counter, flags, &out)
                }
                guard done == lanes else { continue }
                ran += 1
                for lane in 0..<lanes {
                    let expected = data.withUnsafeBytes { raw in
                        portableChunkCV(raw.baseAddress! + lane * 1024, key: key, counter: counter + UInt64(lane), flags: flags)
                    }
                    XCTAssertEqual(Array(out[(8 * lane)..<(8 * lane + 8)]), expected, "lanes \(lanes) lane \(lane)")
                }
            }
        }
        if ran == 0 { throw XCTSkip("this CPU has neither AVX2 nor AVX-512; the portable path is used") }
    }

    static let iv: [UInt32] = [0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A,
                               0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19]

    /// The subtree kernels (chunks and parents in the wide kernel) give the chaining value the
    /// portable path gives: each chunk's, then parents pairwise up to one.
    func testSubtreeKernelsAgreeWithPortablePath() throws {
        let data = (0..<(16 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 9)) }
        var ran = 0
        for lanes in [8, 16] {
            for (counter, keyed) in [(UInt64(0), false), (UInt64(0x1_0000_0000), false), (UInt64(lanes * 3), true)] {
                let key: [UInt32] = keyed ? (0..<8).map { UInt32($0) &* 0x0101_0101 } : BLAKE3KernelTests.iv
                let flags: UInt32 = keyed ? 16 : 0
                var out = [UInt32](repeating: 0, count: 8)
                let done = data.withUnsafeBufferPointer { d in
                    peernet_blake3_hash_subtree_lanes(Int32(lanes), d.baseAddress!, key, counter, flags, &out)
                }
                guard done == lanes else { continue }
                ran += 1
                var level = (0..<lanes).map { lane in
                    data.withUnsafeBytes { raw in
                        portableChunkCV(raw.baseAddress! + lane * 1024, key: key, counter: counter + UInt64(lane), flags: flags)
                    }
                }
                while level.count > 1 {
                    level = stride(from: 0, to: level.count, by: 2).map { i in
                        portableCompress(cv: key, block: level[i] + level[i + 1], counter: 0, blockLength: 64, flags: flags | 4)
                    }
                }
                XCTAssertEqual(out, level[0], "lanes \(lanes) counter \(counter) keyed \(keyed)")
            }
        }
        if ran == 0 { throw XCTSkip("this CPU has neither AVX2 nor AVX-512; the portable path is used") }
        // And through the hasher: a misaligned start (a partial chunk first) reaches the
        // aligned path after one call; every split gives the one-shot digest.
        let long = (0..<(100 * 1024 + 77)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ ($0 >> 11)) }
        let whole = BLAKE3.hash(long)
        for split in [0, 1, 500, 1024, 3 * 1024 + 5, 17 * 1024] {
            var h = BLAKE3()
            h.update(long[..<split])
            h.update(long[split...])
            XCTAssertEqual(h.finalize(), whole, "split at \(split)")
        }
    }

    /// An independent, deliberately plain chunk compression (spec pseudo-code, arrays only).
    private func portableChunkCV(_ chunk: UnsafeRawPointer, key: [UInt32], counter: UInt64, flags: UInt32) -> [UInt32] {
        var cv = key
        for b in 0..<16 {
            let m = (0..<16).map { chunk.loadUnaligned(fromByteOffset: b * 64 + $0 * 4, as: UInt32.self) }
            cv = portableCompress(cv: cv, block: m, counter: counter, blockLength: 64, flags: flags | (b == 0 ? 1 : 0) | (b == 15 ? 2 : 0))
        }
        return cv
    }

    /// One compression, spec pseudo-code: the new chaining value.
    private func portableCompress(cv: [UInt32], block: [UInt32], counter: UInt64, blockLength: UInt32, flags: UInt32) -> [UInt32] {
        let perm = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var m = block
        var v = cv + Array(Self.iv[0..<4]) + [UInt32(truncatingIfNeeded: counter), UInt32(counter >> 32), blockLength, flags]
        func g(_ a: Int, _ b: Int, _ c: Int, _ d: Int, _ x: UInt32, _ y: UInt32) {
            v[a] = v[a] &+ v[b] &+ x; v[d] = rotr(v[d] ^ v[a], 16)
            v[c] = v[c] &+ v[d]; v[b] = rotr(v[b] ^ v[c], 12)
            v[a] = v[a] &+ v[b] &+ y; v[d] = rotr(v[d] ^ v[a], 8)
            v[c] = v[c] &+ v[d]; v[b] = rotr(v[b] ^ v[c], 7)
        }
        for r in 0..<7 {
            g(0, 4, 8, 12, m[0], m[1]); g(1, 5, 9, 13, m[2], m[3])
            g(2, 6, 10, 14, m[4], m[5]); g(3, 7, 11, 15, m[6], m[7])
            g(0, 5, 10, 15, m[8], m[9]); g(1, 6, 11, 12, m[10], m[11])
            g(2, 7, 8, 13, m[12], m[13]); g(3, 4, 9, 14, m[14], m[15])
            if r < 6 { m = perm.map { m[$0] } }
        }
        return (0..<8).map { v[$0] ^ v[$0 + 8] }
    }
}
