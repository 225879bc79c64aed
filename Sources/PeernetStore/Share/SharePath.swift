import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A path inside the share folder, relative to it, as the bytes the file system holds
/// (components joined by "/"). Local names are kept byte for byte: they need not be UTF-8, and
/// NFC/NFD twins stay two files. Only what goes on the chain is text.
public struct SharePath: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { bytes = Array(text.utf8) }

    public static let root = SharePath([UInt8]())

    public var components: [[UInt8]] { bytes.split(separator: UInt8(ascii: "/")).map(Array.init) }
    /// The components as text (invalid UTF-8 replaced), for ignore rules and records.
    public var textComponents: [String] { components.map { String(decoding: $0, as: UTF8.self) } }
    public var name: String { textComponents.last ?? "" }
    /// The folder tag of a record: the parent's components joined by "/".
    public var folder: String { textComponents.dropLast().joined(separator: "/") }
    public var parent: SharePath { SharePath(Array(components.dropLast().joined(separator: [UInt8(ascii: "/")]))) }

    public func appending(_ name: [UInt8]) -> SharePath {
        bytes.isEmpty ? SharePath(name) : SharePath(bytes + [UInt8(ascii: "/")] + name)
    }

    /// Whether `self` is `other` or inside it.
    public func isInside(_ other: SharePath) -> Bool {
        other.bytes.isEmpty || bytes == other.bytes || (bytes.starts(with: other.bytes) && bytes.count > other.bytes.count
                                                         && bytes[other.bytes.count] == UInt8(ascii: "/"))
    }

    public static func < (a: SharePath, b: SharePath) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// What identifies a file's content without reading it: inode, size and modification time.
/// A rename keeps all three; chmod changes none of them; a write changes the time.
public struct FileSignature: Hashable, Sendable {
    public let device: UInt64
    public let inode: UInt64
    public let size: UInt64
    public let modifiedNs: Int64

    public init(device: UInt64, inode: UInt64, size: UInt64, modifiedNs: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNs = modifiedNs
    }

    public init(_ st: stat) {
        self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: UInt64(st.st_size),
                  modifiedNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }
}

/// A path of bytes as a C string for the file calls.
func withCPath<T>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
    let terminated = bytes + [0]
    return try terminated.withUnsafeBufferPointer { buffer in
        try buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: terminated.count) { try body($0) }
    }
}
