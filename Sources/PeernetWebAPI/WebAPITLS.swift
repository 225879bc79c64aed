import Foundation
import NIOSSL

/// HTTPS for the web API (the reference's APIUseSSL with APICertificateFile and
/// APICertificateKey), through swift-nio-ssl: the same PEM files the reference's Go server
/// reads work here unchanged.
extension WebAPIConfiguration.TLSFiles {
    /// The server's TLS settings, with the files read and checked now (readable, PEM, the key
    /// matching the certificate), so a bad file stops the start with a reason instead of
    /// failing every handshake later. TLS 1.2 is the oldest version offered, as Go's server.
    public func serverConfiguration() throws(WebAPIConfiguration.Problem) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw .tls("the certificate file '\(certificateFile)' (APICertificateFile) \(Self.reason(certificateFile, error)); give a PEM certificate, for example one made by `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem -days 365 -subj /CN=localhost`")
        }
        guard !chain.isEmpty else { throw .tls("the certificate file '\(certificateFile)' (APICertificateFile) holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw .tls("the key file '\(keyFile)' (APICertificateKey) \(Self.reason(keyFile, error)); give the certificate's private key as unencrypted PEM")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw .tls("the key in '\(keyFile)' does not fit the certificate in '\(certificateFile)' (\(error))")
        }
        return configuration
    }

    private static func reason(_ path: String, _ error: any Error) -> String {
        FileManager.default.isReadableFile(atPath: path) ? "is not usable PEM (\(error))" : "cannot be read"
    }
}
