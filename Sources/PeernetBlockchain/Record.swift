/// The type byte of a block record (data.md §1.3).
public struct RecordType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let profile = RecordType(rawValue: 0)
    public static let tagData = RecordType(rawValue: 1)
    public static let file = RecordType(rawValue: 2)
}

/// One record of a block: type, creation date (Unix seconds) and opaque data.
public struct BlockRecord: Equatable, Sendable {
    public static let headerSize = 13
    public var type: RecordType
    public var date: Int64
    public var data: [UInt8]

    public init(type: RecordType, date: Int64, data: [UInt8]) {
        self.type = type
        self.date = date
        self.data = data
    }
}

/// A profile field (record type 0): field number and value (data.md §1.6).
public struct ProfileField: Equatable, Sendable {
    public static let name: UInt16 = 0
    public static let email: UInt16 = 1
    public static let website: UInt16 = 2
    public static let twitter: UInt16 = 3
    public static let youtube: UInt16 = 4
    public static let address: UInt16 = 5
    public static let picture: UInt16 = 6

    public var field: UInt16
    public var value: [UInt8]

    public init(field: UInt16, value: [UInt8]) {
        self.field = field
        self.value = value
    }

    public var text: String? { String(validating: value, as: UTF8.self) }

    public static func names() -> [(UInt16, String)] {
        [(name, "name"), (email, "email"), (website, "website"), (twitter, "twitter"), (youtube, "youtube"),
         (address, "address"), (picture, "picture")]
    }

    public func record(date: Int64) -> BlockRecord {
        var data: [UInt8] = []
        data.appendLE(field)
        data += value
        return BlockRecord(type: .profile, date: date, data: data)
    }

    public static func decode(_ record: BlockRecord, index: Int) throws(BlockchainError) -> ProfileField {
        guard record.data.count >= 2 else { throw .invalidRecord(index: index, reason: "profile record shorter than 2 bytes") }
        return ProfileField(field: UInt16(record.data[0]) | UInt16(record.data[1]) << 8, value: Array(record.data[2...]))
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }
    mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { for (i, b) in $0.enumerated() { self[offset + i] = b } }
    }
    func loadLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var v: T = 0
        for i in (0..<MemoryLayout<T>.size).reversed() { v = v << 8 | T(truncatingIfNeeded: self[offset + i]) }
        return v
    }
}
