/// A bounds-checked cursor over received bytes. Every read either returns a value or throws
/// `ProtocolError.truncated`; counts read from the wire are checked against the bytes left
/// before anything is allocated. Package-wide: the block, record, Merkle companion and search
/// extension decoders read with it too (they once sliced by hand and force-unwrapped).
package struct ByteReader {
    package let bytes: ArraySlice<UInt8>
    package private(set) var position: Int
    package let what: String

    package init(_ bytes: ArraySlice<UInt8>, what: String) {
        self.bytes = bytes
        self.position = bytes.startIndex
        self.what = what
    }

    package init(_ bytes: [UInt8], what: String) { self.init(bytes[...], what: what) }

    package var remaining: Int { bytes.endIndex - position }
    package var offset: Int { position - bytes.startIndex }

    /// A 32-byte hash.
    package mutating func hash(_ field: String? = nil) throws(ProtocolError) -> Hash256 {
        try require(32, field)
        defer { position += 32 }
        return Hash256(unchecked: Array(bytes[position..<(position + 32)]))
    }

    /// A 16-byte transfer or file ID.
    package mutating func transferID(_ field: String? = nil) throws(ProtocolError) -> TransferID {
        try require(16, field)
        defer { position += 16 }
        return TransferID(unchecked: Array(bytes[position..<(position + 16)]))
    }

    package func require(_ n: Int, _ field: String? = nil) throws(ProtocolError) {
        guard n >= 0, remaining >= n else {
            throw .truncated(what: field.map { "\(what) \($0)" } ?? what, needed: offset + n, available: bytes.count)
        }
    }

    package mutating func u8(_ field: String? = nil) throws(ProtocolError) -> UInt8 {
        try require(1, field)
        defer { position += 1 }
        return bytes[position]
    }

    package mutating func u16le(_ field: String? = nil) throws(ProtocolError) -> UInt16 { UInt16(try uintLE(2, field)) }
    package mutating func u32le(_ field: String? = nil) throws(ProtocolError) -> UInt32 { UInt32(try uintLE(4, field)) }
    package mutating func u64le(_ field: String? = nil) throws(ProtocolError) -> UInt64 { try uintLE(8, field) }
    package mutating func u32be(_ field: String? = nil) throws(ProtocolError) -> UInt32 {
        try require(4, field)
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[position + i]) }
        position += 4
        return v
    }
    package mutating func u16be(_ field: String? = nil) throws(ProtocolError) -> UInt16 {
        try require(2, field)
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    private mutating func uintLE(_ n: Int, _ field: String?) throws(ProtocolError) -> UInt64 {
        try require(n, field)
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(bytes[position + i]) }
        position += n
        return v
    }

    package mutating func take(_ n: Int, _ field: String? = nil) throws(ProtocolError) -> [UInt8] {
        try require(n, field)
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    package mutating func rest() -> [UInt8] {
        defer { position = bytes.endIndex }
        return Array(bytes[position...])
    }
}

/// Appending little- and big-endian integers to an output buffer.
extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }

    mutating func appendBE<T: FixedWidthInteger>(_ value: T) {
        var v = value.bigEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }

    /// Overwrites `value` little-endian at `offset` (used to patch counts after the fact).
    mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { raw in
            for (i, b) in raw.enumerated() { self[offset + i] = b }
        }
    }
}
