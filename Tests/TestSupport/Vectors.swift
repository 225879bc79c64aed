import Foundation
import XCTest

/// Loads the golden vectors produced by the reference implementation.
///
/// Location: `$PEERNET_VECTORS`, else `../shared/vectors` next to the package root. When
/// `PEERNET_VECTORS` is set (as `.ci/run` does), a missing folder or file is a test failure;
/// when it is not set and the default folder is absent (a user's fresh clone), the vector tests
/// are skipped with a notice and every other test still runs.
public enum Vectors {
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    public static var directory: (url: URL, required: Bool) {
        if let env = ProcessInfo.processInfo.environment["PEERNET_VECTORS"], !env.isEmpty {
            return (URL(fileURLWithPath: env, relativeTo: packageRoot).standardizedFileURL, true)
        }
        return (packageRoot.appendingPathComponent("../shared/vectors").standardizedFileURL, false)
    }

    private static let cache = Cache()
    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var files: [String: JSON] = [:]
    }

    /// The parsed content of `name` (e.g. "blake3.json"); throws XCTSkip when vectors are
    /// optional and absent, or a failure when they are required and absent.
    public static func load(_ name: String) throws -> JSON {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let cached = cache.files[name] { return cached }
        let (dir, required) = directory
        let url = dir.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            if required {
                XCTFail("PEERNET_VECTORS is set but \(url.path) does not exist")
                throw VectorError.missing(url.path)
            }
            FileHandle.standardError.write(Data("notice: golden vectors not found at \(url.path); vector test skipped (set PEERNET_VECTORS to run it)\n".utf8))
            throw XCTSkip("golden vectors not found at \(url.path) (set PEERNET_VECTORS)")
        }
        let data = try Data(contentsOf: url)
        let json = JSON(try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
        cache.files[name] = json
        return json
    }
}

public enum VectorError: Error { case missing(String); case badField(String) }

/// A read-only view of parsed JSON with forgiving accessors for tests.
public struct JSON: @unchecked Sendable, CustomStringConvertible {
    public let value: Any
    public init(_ value: Any) { self.value = value }

    public subscript(key: String) -> JSON { JSON((value as? [String: Any])?[key] ?? NSNull()) }
    public subscript(index: Int) -> JSON {
        guard let a = value as? [Any], index < a.count else { return JSON(NSNull()) }
        return JSON(a[index])
    }
    public var exists: Bool { !(value is NSNull) }
    public var array: [JSON] { (value as? [Any])?.map(JSON.init) ?? [] }
    public var object: [String: JSON] { ((value as? [String: Any]) ?? [:]).mapValues(JSON.init) }
    public var string: String { value as? String ?? "" }
    public var optionalString: String? { value as? String }
    public var int: Int { (value as? NSNumber)?.intValue ?? 0 }
    public var uint64: UInt64 { (value as? NSNumber)?.uint64Value ?? 0 }
    public var bool: Bool { (value as? NSNumber)?.boolValue ?? false }
    /// The value as hex-decoded bytes ("" = no bytes).
    public var bytes: [UInt8] { hexBytes(string) }
    public var description: String { "\(value)" }
}

/// Decodes lower/upper-case hex; traps on malformed test data.
public func hexBytes(_ text: String) -> [UInt8] {
    let utf8 = Array(text.utf8)
    precondition(utf8.count % 2 == 0, "odd hex length in test data")
    func nib(_ c: UInt8) -> UInt8 {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: preconditionFailure("bad hex digit in test data")
        }
    }
    var out = [UInt8]()
    out.reserveCapacity(utf8.count / 2)
    var i = 0
    while i < utf8.count { out.append(nib(utf8[i]) << 4 | nib(utf8[i + 1])); i += 2 }
    return out
}

public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// "pattern(n)": byte i = i mod 251, as used by the BLAKE3 and Peernet vectors.
public func pattern(_ n: Int) -> [UInt8] { (0..<n).map { UInt8($0 % 251) } }
