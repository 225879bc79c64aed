import Foundation
import PeernetNode

/// Where and how the reference's HTTP API is served (config `APIListen`, `APIKey`, ...;
/// `--webapi` and `--apikey` on daemon and mount).
public struct WebAPIConfiguration: Sendable, Equatable {
    /// Addresses to listen on, "IP:PORT" each (port 0: any free port).
    public var listen: [String]
    /// The key clients send in `x-api-key`; the null UUID turns the check off, as in the
    /// reference (only sensible on loopback).
    public var apiKey: UUID
    /// Listening on a non-loopback address exposes the node's files and identity to the
    /// network: refused unless the user says so explicitly.
    public var allowRemote: Bool
    /// Seconds to read a whole request and to write a response (APITimeoutRead/Write).
    public var readTimeout: Double
    public var writeTimeout: Double
    /// HTTPS (APIUseSSL): the PEM certificate chain and private key, as the reference's
    /// APICertificateFile and APICertificateKey. nil: plain HTTP.
    public var tls: TLSFiles?

    /// The PEM files of a TLS server: the certificate (chain, leaf first) and its key.
    public struct TLSFiles: Sendable, Equatable {
        public var certificateFile: String
        public var keyFile: String
        public init(certificateFile: String, keyFile: String) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    public static let nullKey = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    public init(listen: [String], apiKey: UUID = WebAPIConfiguration.nullKey, allowRemote: Bool = false,
                readTimeout: Double = 10, writeTimeout: Double = 600, tls: TLSFiles? = nil) {
        self.listen = listen
        self.apiKey = apiKey
        self.allowRemote = allowRemote
        self.readTimeout = readTimeout
        self.writeTimeout = writeTimeout
        self.tls = tls
    }

    public enum Problem: Error, CustomStringConvertible, Equatable {
        case badAddress(String)
        case remoteNotAllowed(String)
        /// APIUseSSL without usable certificate files: what is wrong, in words.
        case tls(String)
        public var description: String {
            switch self {
            case .badAddress(let a):
                return "the web API address '\(a)' is not IP:PORT (for example 127.0.0.1:8112 or [::1]:8112)"
            case .remoteNotAllowed(let a):
                return "the web API would listen on \(a), which other machines can reach: anyone there could read your files and act as you. Use 127.0.0.1 or ::1, or allow it explicitly (APIAllowRemote: true, or --webapi-allow-remote) and set an APIKey"
            case .tls(let why):
                return "the web API cannot serve HTTPS (APIUseSSL): \(why)"
            }
        }
    }

    /// The endpoints to bind, checked: well formed, and loopback unless allowed.
    public func endpoints() throws(Problem) -> [Endpoint] {
        var out: [Endpoint] = []
        for text in listen {
            guard let e = Endpoint(text) else { throw .badAddress(text) }
            if !e.ip.isLoopback && !allowRemote { throw .remoteNotAllowed(text) }
            out.append(e)
        }
        return out
    }
}
