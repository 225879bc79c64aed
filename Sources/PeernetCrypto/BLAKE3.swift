// BLAKE3 hashing: one-shot, incremental, keyed, key derivation and extended output.
//
// Peernet uses unkeyed BLAKE3-256 everywhere (packet signatures, node IDs, file hashes, Merkle
// trees). Debian packages no C library for it, so this is a Swift implementation of the
// specification: a chunk state plus a stack of subtree chaining values, with a fast path that
// hashes whole chunks straight from the caller's memory, 8 or 16 at a time with the AVX2 or
// AVX-512 kernel in CBLAKE3 when the CPU has one, else one at a time in Swift.
import CBLAKE3

/// An incremental BLAKE3 hasher. Value type: copying a hasher forks the hash state.
public struct BLAKE3: Sendable {
    /// Length of the default digest in bytes.
    public static let digestLength = 32

    private let key: SIMD8<UInt32>
    private let flags: UInt32
    // Current (possibly partial) chunk.
    private var chunkCV: SIMD8<UInt32>
    private var chunkCounter: UInt64 = 0
    private var block = SIMD16<UInt32>()   // 64-byte buffer of the current block, zero-padded
    private var blockLength = 0
    private var blocksCompressed = 0
    // Chaining values of completed subtrees, one per set bit of `chunkCounter` (at most 54).
    private var stack: [SIMD8<UInt32>] = []

    /// Chunks per call of the wide C kernel on this CPU (16 AVX-512, 8 AVX2, 0 none).
    static let wideLanes = Int(peernet_blake3_lanes())

    /// A hasher for plain BLAKE3 (what Peernet uses).
    public init() {
        self.init(key: BLAKE3Constants.iv, flags: 0)
    }

    /// A hasher for keyed BLAKE3 (a MAC / PRF); `key` must be 32 bytes.
    public init(key: some Collection<UInt8>) {
        precondition(key.count == 32, "BLAKE3 keys are 32 bytes")
        self.init(key: BLAKE3.words(Array(key)), flags: BLAKE3Flag.keyedHash)
    }

    /// A hasher for key derivation: feed the key material, finalize to get the derived key.
    public init(deriveKeyContext context: String) {
        var contextHasher = BLAKE3(key: BLAKE3Constants.iv, flags: BLAKE3Flag.deriveKeyContext)
        contextHasher.update(Array(context.utf8))
        let contextKey = contextHasher.finalize()
        self.init(key: BLAKE3.words(contextKey), flags: BLAKE3Flag.deriveKeyMaterial)
    }

    private init(key: SIMD8<UInt32>, flags: UInt32) {
        self.key = key
        self.flags = flags
        self.chunkCV = key
        self.stack.reserveCapacity(8)
    }

    private static func words(_ bytes: [UInt8]) -> SIMD8<UInt32> {
        var w = SIMD8<UInt32>()
        for i in 0..<8 {
            w[i] = UInt32(bytes[4 * i]) | UInt32(bytes[4 * i + 1]) << 8
                | UInt32(bytes[4 * i + 2]) << 16 | UInt32(bytes[4 * i + 3]) << 24
        }
        return w
    }

    // MARK: Input

    /// Adds bytes to the hash.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard var p = buffer.baseAddress, buffer.count > 0 else { return }
        var remaining = buffer.count
        while remaining > 0 {
            // Whole chunks straight from memory, but never the last one: the final chunk must
            // stay in the chunk state so finalize() can mark it ROOT when it is the only one.
            if blockLength == 0 && blocksCompressed == 0 && remaining > BLAKE3Constants.chunkLength {
                let lanes = BLAKE3.wideLanes
                if lanes > 0 && remaining > 2 &* BLAKE3Constants.chunkLength {
                    withUnsafeTemporaryAllocation(of: SIMD8<UInt32>.self, capacity: lanes) { out in
                        let words = UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: UInt32.self)
                        withUnsafeBytes(of: key) { keyWords in
                            let k = keyWords.baseAddress!.assumingMemoryBound(to: UInt32.self)
                            while remaining > lanes &* BLAKE3Constants.chunkLength {
                                let input = p.assumingMemoryBound(to: UInt8.self)
                                let offAlignment = Int(chunkCounter % UInt64(lanes))
                                if offAlignment == 0 {
                                    // An aligned subtree: chunks and parents in the kernel.
                                    peernet_blake3_hash_subtree(input, k, chunkCounter, flags, words)
                                    pushSubtree(out[0], chunks: lanes)
                                    p += lanes &* BLAKE3Constants.chunkLength
                                    remaining &-= lanes &* BLAKE3Constants.chunkLength
                                } else {
                                    // Up to the next aligned counter, chunk by chunk (once).
                                    peernet_blake3_hash_chunks(input, k, chunkCounter, flags, words)
                                    let used = lanes &- offAlignment
                                    for i in 0..<used { pushChunk(out[i]) }
                                    p += used &* BLAKE3Constants.chunkLength
                                    remaining &-= used &* BLAKE3Constants.chunkLength
                                }
                            }
                            // The last whole chunks before the tail (up to lanes - 1, keeping at
                            // least one byte for the chunk state) through the kernel too, from a
                            // copy padded to its width: chunk by chunk in Swift they were 15 of
                            // every 64 chunks of a 64 KiB update (the served pieces' check).
                            let tailChunks = (remaining &- 1) / BLAKE3Constants.chunkLength
                            if tailChunks >= 2 {
                                withUnsafeTemporaryAllocation(byteCount: lanes &* BLAKE3Constants.chunkLength, alignment: 64) { padded in
                                    let bytes = tailChunks &* BLAKE3Constants.chunkLength
                                    padded.baseAddress!.copyMemory(from: p, byteCount: bytes)
                                    peernet_blake3_hash_chunks(padded.baseAddress!.assumingMemoryBound(to: UInt8.self), k,
                                                               chunkCounter, flags, words)
                                    for i in 0..<tailChunks { pushChunk(out[i]) }
                                    p += bytes
                                    remaining &-= bytes
                                }
                            }
                        }
                    }
                }
                while remaining > BLAKE3Constants.chunkLength {
                    pushChunk(blake3ChunkCV(p, key: key, counter: chunkCounter, flags: flags))
                    p += BLAKE3Constants.chunkLength
                    remaining &-= BLAKE3Constants.chunkLength
                }
            }
            // A full chunk in the state with more input to come: close it.
            if blocksCompressed == 15 && blockLength == 64 {
                pushChunk(compressBlock(flags: flags | BLAKE3Flag.chunkEnd))
                continue
            }
            // A full block with more input to come: compress it.
            if blockLength == 64 {
                let f = flags | (blocksCompressed == 0 ? BLAKE3Flag.chunkStart : 0)
                chunkCV = compressBlock(flags: f)
                blocksCompressed &+= 1
                block = SIMD16()
                blockLength = 0
            }
            let take = min(64 &- blockLength, remaining)
            withUnsafeMutableBytes(of: &block) { raw in
                (raw.baseAddress! + blockLength).copyMemory(from: p, byteCount: take)
            }
            blockLength &+= take
            p += take
            remaining &-= take
        }
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { update($0) }
        }
    }

    /// Compresses the full 64-byte `block` buffer into the current chunk's chaining value.
    private func compressBlock(flags f: UInt32) -> SIMD8<UInt32> {
        withUnsafeBytes(of: block) {
            blake3CompressCV(cv: chunkCV, block: $0.baseAddress!, counter: chunkCounter, blockLength: 64, flags: f)
        }
    }

    /// Records a finished chunk's chaining value and merges completed subtrees.
    private mutating func pushChunk(_ cv: SIMD8<UInt32>) { pushSubtree(cv, chunks: 1) }

    /// Records the chaining value of an aligned subtree of `chunks` (a power of two: 1 for a
    /// chunk) that starts at the current chunk counter, and merges completed subtrees, as one
    /// push per chunk would (the lower stack levels are empty: the counter was a multiple of
    /// `chunks`).
    private mutating func pushSubtree(_ cv: SIMD8<UInt32>, chunks: Int) {
        var cv = cv
        chunkCounter &+= UInt64(chunks)
        var total = chunkCounter >> UInt64(chunks.trailingZeroBitCount)
        while total & 1 == 0 {
            cv = blake3ParentCV(left: stack.removeLast(), right: cv, key: key, flags: flags)
            total >>= 1
        }
        stack.append(cv)
        chunkCV = key
        block = SIMD16()
        blockLength = 0
        blocksCompressed = 0
    }

    // MARK: Output

    /// The 32-byte digest of everything added so far. The hasher stays usable.
    public func finalize() -> [UInt8] {
        finalize(outputLength: BLAKE3.digestLength)
    }

    /// `outputLength` bytes of extended output (the first 32 are the digest).
    public func finalize(outputLength: Int) -> [UInt8] {
        precondition(outputLength >= 0)
        var out = [UInt8](repeating: 0, count: outputLength)
        out.withUnsafeMutableBytes { finalize(into: $0) }
        return out
    }

    /// Writes extended output into `output`.
    public func finalize(into output: UnsafeMutableRawBufferPointer) {
        // Root node inputs: start with the current chunk, then fold in the stack right to left.
        var inputCV = chunkCV
        var inputBlock = block
        var inputCounter = chunkCounter
        var inputLength = UInt32(blockLength)
        var inputFlags = flags | BLAKE3Flag.chunkEnd | (blocksCompressed == 0 ? BLAKE3Flag.chunkStart : 0)
        var index = stack.count
        while index > 0 {
            index -= 1
            let childCV = withUnsafeBytes(of: &inputBlock) {
                blake3CompressCV(cv: inputCV, block: $0.baseAddress!, counter: inputCounter,
                                 blockLength: inputLength, flags: inputFlags)
            }
            inputBlock = SIMD16(lowHalf: stack[index], highHalf: childCV)
            for i in 0..<16 { inputBlock[i] = inputBlock[i].littleEndian }
            inputCV = key
            inputCounter = 0
            inputLength = 64
            inputFlags = flags | BLAKE3Flag.parent
        }
        var outputCounter: UInt64 = 0
        var position = 0
        while position < output.count {
            var words = withUnsafeBytes(of: &inputBlock) {
                blake3CompressXOF(cv: inputCV, block: $0.baseAddress!, counter: outputCounter,
                                  blockLength: inputLength, flags: inputFlags | BLAKE3Flag.root)
            }
            for i in 0..<16 { words[i] = words[i].littleEndian }
            let n = min(64, output.count - position)
            withUnsafeBytes(of: &words) { raw in
                output.baseAddress!.advanced(by: position).copyMemory(from: raw.baseAddress!, byteCount: n)
            }
            position += n
            outputCounter &+= 1
        }
    }

    // MARK: One-shot

    /// BLAKE3-256 of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = BLAKE3()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// BLAKE3-256 of the bytes in `buffer`.
    public static func hash(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = BLAKE3()
        hasher.update(buffer)
        return hasher.finalize()
    }
}
