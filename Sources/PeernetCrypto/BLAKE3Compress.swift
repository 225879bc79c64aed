// The BLAKE3 compression function, scalar form.
//
// Written straight from the BLAKE3 specification (section 2.2). The state lives in sixteen local
// variables so the optimiser keeps it in registers; the message words are loaded little-endian
// from the caller's block pointer without copying. `BLAKE3Lanes.swift` holds the wide variant
// that compresses eight chunks at once.

@usableFromInline
enum BLAKE3Flag {
    static let chunkStart: UInt32 = 1 << 0
    static let chunkEnd: UInt32 = 1 << 1
    static let parent: UInt32 = 1 << 2
    static let root: UInt32 = 1 << 3
    static let keyedHash: UInt32 = 1 << 4
    static let deriveKeyContext: UInt32 = 1 << 5
    static let deriveKeyMaterial: UInt32 = 1 << 6
}

@usableFromInline
enum BLAKE3Constants {
    static let blockLength = 64
    static let chunkLength = 1024
    static let iv = SIMD8<UInt32>(0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A,
                                  0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19)
}

@inline(__always)
private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x &>> n) | (x &<< (32 &- n)) }

@inline(__always)
private func g(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32, _ d: inout UInt32,
               _ mx: UInt32, _ my: UInt32) {
    a = a &+ b &+ mx
    d = rotr(d ^ a, 16)
    c = c &+ d
    b = rotr(b ^ c, 12)
    a = a &+ b &+ my
    d = rotr(d ^ a, 8)
    c = c &+ d
    b = rotr(b ^ c, 7)
}

/// Runs the seven rounds over `cv`/`block` and returns the sixteen-word state before the final
/// feed-forward. `block` must point at 64 readable bytes (zero-padded by the caller).
@inline(__always)
func blake3Rounds(cv: SIMD8<UInt32>, block: UnsafeRawPointer, counter: UInt64,
                  blockLength: UInt32, flags: UInt32) -> SIMD16<UInt32> {
    @inline(__always) func w(_ i: Int) -> UInt32 {
        UInt32(littleEndian: block.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))
    }
    var m0 = w(0), m1 = w(1), m2 = w(2), m3 = w(3), m4 = w(4), m5 = w(5), m6 = w(6), m7 = w(7)
    var m8 = w(8), m9 = w(9), m10 = w(10), m11 = w(11), m12 = w(12), m13 = w(13), m14 = w(14), m15 = w(15)
    var v0 = cv[0], v1 = cv[1], v2 = cv[2], v3 = cv[3], v4 = cv[4], v5 = cv[5], v6 = cv[6], v7 = cv[7]
    var v8 = BLAKE3Constants.iv[0], v9 = BLAKE3Constants.iv[1]
    var v10 = BLAKE3Constants.iv[2], v11 = BLAKE3Constants.iv[3]
    var v12 = UInt32(truncatingIfNeeded: counter), v13 = UInt32(truncatingIfNeeded: counter >> 32)
    var v14 = blockLength, v15 = flags

    for round in 0..<7 {
        g(&v0, &v4, &v8, &v12, m0, m1)
        g(&v1, &v5, &v9, &v13, m2, m3)
        g(&v2, &v6, &v10, &v14, m4, m5)
        g(&v3, &v7, &v11, &v15, m6, m7)
        g(&v0, &v5, &v10, &v15, m8, m9)
        g(&v1, &v6, &v11, &v12, m10, m11)
        g(&v2, &v7, &v8, &v13, m12, m13)
        g(&v3, &v4, &v9, &v14, m14, m15)
        if round == 6 { break }
        // Message permutation: 2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8.
        (m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15) =
            (m2, m6, m3, m10, m7, m0, m4, m13, m1, m11, m12, m5, m9, m14, m15, m8)
    }
    return SIMD16(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15)
}

/// Compresses one block and returns the new chaining value (the first eight output words).
@inline(__always)
func blake3CompressCV(cv: SIMD8<UInt32>, block: UnsafeRawPointer, counter: UInt64,
                      blockLength: UInt32, flags: UInt32) -> SIMD8<UInt32> {
    let s = blake3Rounds(cv: cv, block: block, counter: counter, blockLength: blockLength, flags: flags)
    return s.lowHalf ^ s.highHalf
}

/// Compresses one block and returns all sixteen output words (for root output / XOF).
@inline(__always)
func blake3CompressXOF(cv: SIMD8<UInt32>, block: UnsafeRawPointer, counter: UInt64,
                       blockLength: UInt32, flags: UInt32) -> SIMD16<UInt32> {
    let s = blake3Rounds(cv: cv, block: block, counter: counter, blockLength: blockLength, flags: flags)
    return SIMD16(lowHalf: s.lowHalf ^ s.highHalf, highHalf: s.highHalf ^ cv)
}

/// Compresses two chaining values into their parent's chaining value.
@inline(__always)
func blake3ParentCV(left: SIMD8<UInt32>, right: SIMD8<UInt32>, key: SIMD8<UInt32>,
                    flags: UInt32) -> SIMD8<UInt32> {
    var block = SIMD16<UInt32>(lowHalf: left, highHalf: right)
    for i in 0..<16 { block[i] = block[i].littleEndian }
    return withUnsafeBytes(of: &block) { raw in
        blake3CompressCV(cv: key, block: raw.baseAddress!, counter: 0,
                         blockLength: UInt32(BLAKE3Constants.blockLength), flags: flags | BLAKE3Flag.parent)
    }
}

/// Hashes one complete 1024-byte chunk straight from memory and returns its chaining value.
@inline(__always)
func blake3ChunkCV(_ chunk: UnsafeRawPointer, key: SIMD8<UInt32>, counter: UInt64, flags: UInt32) -> SIMD8<UInt32> {
    var cv = key
    for block in 0..<16 {
        var f = flags
        if block == 0 { f |= BLAKE3Flag.chunkStart }
        if block == 15 { f |= BLAKE3Flag.chunkEnd }
        cv = blake3CompressCV(cv: cv, block: chunk + block &* 64, counter: counter,
                              blockLength: 64, flags: f)
    }
    return cv
}
