import PeernetCrypto
@testable import PeernetProtocol
import TestSupport
import XCTest

/// Builders from the vectors' JSON field names to protocol values.
enum Fixture {
    static func hash(_ j: JSON) -> Hash256 { Hash256(hexBytes(j.string))! }

    static func header(_ j: JSON, ports: Bool = true) -> MessageHeader {
        MessageHeader(features: Features(rawValue: UInt8(j["features"].int)),
                      blockchainHeight: uint64(j["blockchain_height"]),
                      blockchainVersion: uint64(j["blockchain_version"]),
                      portInternal: UInt16(j["set_port_internal"].int), portExternal: UInt16(j["set_port_external"].int),
                      userAgent: j["user_agent"].string)
    }

    /// JSON integers up to 2^64-1 (JSONSerialization may hand them over as Double or Decimal).
    static func uint64(_ j: JSON) -> UInt64 {
        let text = "\(j.value)"
        if let v = UInt64(text) { return v }
        if let d = Double(text), d >= 1.8446744073709552e19 { return UInt64.max }
        return j.uint64
    }

    static func peer(_ j: JSON) -> PeerRecord {
        var p = PeerRecord(publicKey: try! PublicKey(hex: j["public_key"].string))
        if !j["ipv4"].string.isEmpty { p.ipv4 = IPv4Address(j["ipv4"].string)! }
        p.ipv4Port = UInt16(j["ipv4_port"].int)
        p.ipv4PortReportedInternal = UInt16(j["ipv4_port_reported_internal"].int)
        p.ipv4PortReportedExternal = UInt16(j["ipv4_port_reported_external"].int)
        if !j["ipv6"].string.isEmpty { p.ipv6 = IPv6Address(j["ipv6"].string)! }
        p.ipv6Port = UInt16(j["ipv6_port"].int)
        p.ipv6PortReportedInternal = UInt16(j["ipv6_port_reported_internal"].int)
        p.ipv6PortReportedExternal = UInt16(j["ipv6_port_reported_external"].int)
        p.lastContactSeconds = UInt32(j["last_contact_seconds"].int)
        p.features = Features(rawValue: UInt8(j["features"].int))
        return p
    }

    static func transferID(_ j: JSON) -> TransferID { TransferID(uuidString: j.string)! }
}

extension XCTestCase {
    /// Asserts a decoder rejects `bytes` with a typed error (and does not crash).
    func assertRejects<T>(_ what: String, _ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("\(what): accepted", file: file, line: line)
        } catch is ProtocolError {
        } catch {
            XCTFail("\(what): untyped error \(error)", file: file, line: line)
        }
    }
}
