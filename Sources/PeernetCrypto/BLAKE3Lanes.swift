// BLAKE3 over eight chunks at once ("hash_many" in the reference implementation).
//
// Each of the sixteen state words is a SIMD8 whose lane i belongs to chunk i, so one pass of the
// round function advances eight independent chunks. On x86-64 baseline this becomes pairs of
// SSE2 operations; the extra instruction-level parallelism roughly doubles throughput over the
// scalar path on large inputs (see `peernet-bench`).

@usableFromInline
typealias Lanes = SIMD8<UInt32>

@inline(__always)
private func rotr(_ x: Lanes, _ n: UInt32) -> Lanes {
    (x &>> Lanes(repeating: n)) | (x &<< Lanes(repeating: 32 &- n))
}

@inline(__always)
private func g(_ a: inout Lanes, _ b: inout Lanes, _ c: inout Lanes, _ d: inout Lanes,
               _ mx: Lanes, _ my: Lanes) {
    a = a &+ b &+ mx
    d = rotr(d ^ a, 16)
    c = c &+ d
    b = rotr(b ^ c, 12)
    a = a &+ b &+ my
    d = rotr(d ^ a, 8)
    c = c &+ d
    b = rotr(b ^ c, 7)
}

/// Hashes eight consecutive complete chunks starting at `base` (8 KiB readable) with chunk
/// counters `counter ..< counter + 8`, writing their chaining values into `out[0..<8]`.
@inline(__always)
func blake3EightChunkCVs(_ base: UnsafeRawPointer, key: SIMD8<UInt32>, counter: UInt64, flags: UInt32,
                         out: UnsafeMutablePointer<SIMD8<UInt32>>) {
    var h0 = Lanes(repeating: key[0]), h1 = Lanes(repeating: key[1])
    var h2 = Lanes(repeating: key[2]), h3 = Lanes(repeating: key[3])
    var h4 = Lanes(repeating: key[4]), h5 = Lanes(repeating: key[5])
    var h6 = Lanes(repeating: key[6]), h7 = Lanes(repeating: key[7])
    var counterLow = Lanes(repeating: 0), counterHigh = Lanes(repeating: 0)
    for i in 0..<8 {
        let c = counter &+ UInt64(i)
        counterLow[i] = UInt32(truncatingIfNeeded: c)
        counterHigh[i] = UInt32(truncatingIfNeeded: c >> 32)
    }
    let iv = BLAKE3Constants.iv
    for block in 0..<16 {
        var f = flags
        if block == 0 { f |= BLAKE3Flag.chunkStart }
        if block == 15 { f |= BLAKE3Flag.chunkEnd }
        let blockBase = base + block &* 64
        @inline(__always) func word(_ j: Int) -> Lanes {
            var v = Lanes()
            for lane in 0..<8 {
                v[lane] = UInt32(littleEndian: blockBase.loadUnaligned(
                    fromByteOffset: lane &* 1024 &+ j &* 4, as: UInt32.self))
            }
            return v
        }
        var m0 = word(0), m1 = word(1), m2 = word(2), m3 = word(3)
        var m4 = word(4), m5 = word(5), m6 = word(6), m7 = word(7)
        var m8 = word(8), m9 = word(9), m10 = word(10), m11 = word(11)
        var m12 = word(12), m13 = word(13), m14 = word(14), m15 = word(15)
        var v0 = h0, v1 = h1, v2 = h2, v3 = h3, v4 = h4, v5 = h5, v6 = h6, v7 = h7
        var v8 = Lanes(repeating: iv[0]), v9 = Lanes(repeating: iv[1])
        var v10 = Lanes(repeating: iv[2]), v11 = Lanes(repeating: iv[3])
        var v12 = counterLow, v13 = counterHigh
        var v14 = Lanes(repeating: 64), v15 = Lanes(repeating: f)
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
            (m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15) =
                (m2, m6, m3, m10, m7, m0, m4, m13, m1, m11, m12, m5, m9, m14, m15, m8)
        }
        h0 = v0 ^ v8; h1 = v1 ^ v9; h2 = v2 ^ v10; h3 = v3 ^ v11
        h4 = v4 ^ v12; h5 = v5 ^ v13; h6 = v6 ^ v14; h7 = v7 ^ v15
    }
    for lane in 0..<8 {
        out[lane] = SIMD8(h0[lane], h1[lane], h2[lane], h3[lane], h4[lane], h5[lane], h6[lane], h7[lane])
    }
}
