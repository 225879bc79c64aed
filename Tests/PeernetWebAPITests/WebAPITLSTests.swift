import Foundation
@testable import PeernetWebAPI
import TestSupport
import XCTest

/// HTTPS (APIUseSSL): the API over TLS with the reference's PEM files, checked with curl, a
/// real TLS client; and each unusable file refused at start with a reason.
final class WebAPITLSTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = URL(fileURLWithPath: "/tmp/pn-tls-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// A self-signed P-256 certificate for 127.0.0.1 and its key, made by openssl.
    func makeCertificate(_ name: String) throws -> (cert: String, key: String) {
        let cert = dir.appendingPathComponent("\(name).pem").path, key = dir.appendingPathComponent("\(name).key").path
        let r = sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '\(key)' -out '\(cert)' -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>&1")
        try XCTSkipIf(r.status == 127, "openssl is not installed (scripts/install-deps.sh installs it)")
        XCTAssertEqual(r.status, 0, r.out)
        return (cert, key)
    }

    func testTheAPIIsServedOverTLSWithTheKeyEnforced() async throws {
        let (cert, key) = try makeCertificate("server")
        let peer = try APIPeer()
        let apiKey = UUID()
        let server = WebAPIServer(runtime: peer.runtime, configuration: WebAPIConfiguration(
            listen: ["127.0.0.1:0"], apiKey: apiKey, tls: .init(certificateFile: cert, keyFile: key)))
        try await server.start()
        let address = server.boundEndpoints.withLock { $0 }[0]
        func curl(_ arguments: String) -> (status: Int32, out: String, err: String) {
            sh("curl -sS --max-time 20 \(arguments)", timeout: 30)
        }
        // Verified against the certificate: the server presents it, and the API answers.
        let ok = curl("--cacert '\(cert)' -H 'x-api-key: \(apiKey.uuidString)' -w ' %{http_code}' https://\(address)/status")
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertTrue(ok.out.hasSuffix(" 200"), ok.out)
        XCTAssertTrue(ok.out.contains("\"isconnected\""), ok.out)
        // The key is still enforced over TLS.
        let noKey = curl("--cacert '\(cert)' -o /dev/null -w '%{http_code}' https://\(address)/status")
        XCTAssertEqual(noKey.out, "401", noKey.err)
        // A client that does not trust the certificate is refused by curl's verification:
        // the server really is the certificate's holder, not a plain-HTTP port.
        let untrusted = curl("-o /dev/null https://\(address)/test")
        XCTAssertNotEqual(untrusted.status, 0)
        // Plain HTTP to the TLS port gets no API answer.
        let plain = curl("-o /dev/null -w '%{http_code}' -H 'x-api-key: \(apiKey.uuidString)' http://\(address)/status")
        XCTAssertNotEqual(plain.out, "200")
        await server.stop()
        await peer.stop()
    }

    func testUnusableFilesAreRefusedWithAReason() throws {
        let (cert, key) = try makeCertificate("a")
        let (_, otherKey) = try makeCertificate("b")
        let garbage = dir.appendingPathComponent("garbage.pem").path
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: garbage))
        func problem(_ files: WebAPIConfiguration.TLSFiles) -> String {
            do {
                _ = try files.serverConfiguration()
                return "accepted"
            } catch { return error.description }
        }
        XCTAssertNoThrow(try WebAPIConfiguration.TLSFiles(certificateFile: cert, keyFile: key).serverConfiguration())
        let missing = problem(.init(certificateFile: dir.appendingPathComponent("none.pem").path, keyFile: key))
        XCTAssertTrue(missing.contains("none.pem") && missing.contains("cannot be read") && missing.contains("APICertificateFile"), missing)
        let notPEM = problem(.init(certificateFile: garbage, keyFile: key))
        XCTAssertTrue(notPEM.contains("is not usable PEM"), notPEM)
        let keyMissing = problem(.init(certificateFile: cert, keyFile: dir.appendingPathComponent("none.key").path))
        XCTAssertTrue(keyMissing.contains("APICertificateKey") && keyMissing.contains("cannot be read"), keyMissing)
        let mismatch = problem(.init(certificateFile: cert, keyFile: otherKey))
        XCTAssertTrue(mismatch.contains("does not fit"), mismatch)
    }
}
