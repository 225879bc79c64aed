// swift-tools-version:6.1
// Peernet for Swift: a native Peernet node with a FUSE front end.
// Layers (each testable without the ones above it):
//   C* shims -> PeernetCrypto -> PeernetProtocol -> (storage, node, filesystem) -> peernet executable
import PackageDescription

let package = Package(
    name: "Peernet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "peernet", targets: ["peernet"]),
        .executable(name: "peernet-bench", targets: ["peernet-bench"]),
        .library(name: "PeernetCrypto", targets: ["PeernetCrypto"]),
        .library(name: "PeernetProtocol", targets: ["PeernetProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // YAML for config.yaml, in the reference client's format.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // The logging API of every layer (Logger); its one handler writes peernet.log.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The reference's web API (issue 17), served over SwiftNIO.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // Its streaming multipart parser: /warehouse/create uploads of any size go to disk as they
        // arrive (Hummingbird has no multipart support of its own).
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.0"),
        // WebSocket upgrades for /search/result/ws and /console.
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.0.0"),
    ],
    targets: [
        // System libraries (Debian: libfuse3-dev libsodium-dev libsecp256k1-dev libsqlite3-dev libssl-dev).
        .systemLibrary(name: "CFuse3", pkgConfig: "fuse3",
                       providers: [.apt(["libfuse3-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium",
                       providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CSecp256k1", pkgConfig: "libsecp256k1",
                       providers: [.apt(["libsecp256k1-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        // OpenSSL's libcrypto, for ChaCha20-Poly1305 only: the transfer fast path's cipher,
        // the largest CPU cost of a transfer, runs 2.7x faster there than in libsodium.
        .systemLibrary(name: "COpenSSLCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),

        // Linux calls Swift's Glibc module does not export (copy_file_range).
        .target(name: "CLinuxCalls"),
        // Wide (AVX2 / AVX-512) BLAKE3 chunk kernel, picked at run time; see its header.
        .target(name: "CBLAKE3", cSettings: [.unsafeFlags(["-O3"])]),
        // BLAKE3 (Swift, with the wide kernel for many chunks), secp256k1 identities and Salsa20 (through the C libraries).
        .target(name: "PeernetCrypto", dependencies: ["CSodium", "CSecp256k1", "CBLAKE3", "COpenSSLCrypto"],
                swiftSettings: [.unsafeFlags(["-O"])]),
        // Paths (XDG data directory), the identity key file, shared helpers for front ends.
        .target(name: "PeernetSupport", dependencies: ["PeernetCrypto", .product(name: "Logging", package: "swift-log")]),
        // Pure value types and codecs of the wire format; no I/O.
        // Optimised even in debug builds: tests run thousands of packets through these.
        .target(name: "PeernetProtocol", dependencies: ["PeernetCrypto"], swiftSettings: [.unsafeFlags(["-O"])]),

        // Blocks, records, file metadata, Merkle trees, search words: pure codecs, no I/O.
        .target(name: "PeernetBlockchain", dependencies: ["PeernetCrypto", "PeernetProtocol"], swiftSettings: [.unsafeFlags(["-O"])]),
        // Storage: SQLite (system library), the warehouse of shared content, the user's
        // blockchain and the search index.
        .target(name: "PeernetStore", dependencies: ["CSQLite", "CLinuxCalls", "PeernetBlockchain", "PeernetCrypto", "PeernetProtocol", "PeernetSupport",
                                                     .product(name: "Logging", package: "swift-log")],
                swiftSettings: [.unsafeFlags(["-O"])]),
        // UDT over lite packets, block and file transfer streams: state machines, no I/O.
        .target(name: "PeernetTransfer", dependencies: ["PeernetProtocol", "PeernetCrypto"], swiftSettings: [.unsafeFlags(["-O"])]),
        // Blockchain exchange (Get Block over UDT, the remote-chain cache), file serving, search.
        .target(name: "PeernetExchange", dependencies: ["PeernetNode", "PeernetStore", "PeernetTransfer", "PeernetBlockchain",
                                                        "PeernetProtocol", "PeernetCrypto", "PeernetSupport",
                                                        .product(name: "Logging", package: "swift-log")], swiftSettings: [.unsafeFlags(["-O"])]),
        // The FUSE file system over the node: me/, peers/, search/, files/, .peernet/.
        .target(name: "PeernetFS", dependencies: ["CFuse3", "CLinuxCalls", "PeernetSupport", "PeernetExchange", "PeernetStore", "PeernetNode", "PeernetBlockchain",
                                                  "PeernetProtocol", "PeernetCrypto", .product(name: "Logging", package: "swift-log")]),
        // The embedded node: UDP, peers, sequences, bootstrap, LAN discovery, Kademlia DHT.
        .target(name: "PeernetNode", dependencies: ["CLinuxCalls", "PeernetCrypto", "PeernetProtocol", "PeernetSupport",
                                                    .product(name: "Logging", package: "swift-log")], swiftSettings: [.unsafeFlags(["-O"])]),

        // The reference's HTTP API (core/webapi: /status, /account, /blockchain, /search,
        // /file/read, ...) over the same runtime as the drive and the CLI.
        .target(name: "PeernetWebAPI", dependencies: [
            "PeernetExchange", "PeernetStore", "PeernetNode", "PeernetBlockchain", "PeernetProtocol", "PeernetCrypto", "PeernetSupport",
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
            .product(name: "MultipartKit", package: "multipart-kit"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "HummingbirdTLS", package: "hummingbird"), .product(name: "HummingbirdCore", package: "hummingbird"),
        ]),

        // Configuration, the control channel and the running service shared by daemon and mount.
        .target(name: "PeernetService", dependencies: [
            "CLinuxCalls", "PeernetNode", "PeernetSupport", "PeernetCrypto", "PeernetStore", "PeernetBlockchain", "PeernetProtocol",
            "PeernetExchange", "PeernetFS", "PeernetWebAPI", .product(name: "Yams", package: "Yams"), .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "peernet", dependencies: [
            "PeernetCrypto", "PeernetProtocol", "PeernetSupport", "PeernetNode", "PeernetService", "PeernetStore", "PeernetBlockchain",
            .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "peernet-bench", dependencies: ["PeernetCrypto", "PeernetProtocol", "PeernetNode", "PeernetStore", "PeernetBlockchain", "PeernetSupport", "PeernetExchange", "PeernetFS", "PeernetWebAPI"]),
        // libFuzzer entry points: the packet and message decoders, and the request handlers of a running
        // node with a real store (see README "Fuzzing").
        .executableTarget(name: "peernet-fuzz", dependencies: ["PeernetCrypto", "PeernetProtocol", "PeernetBlockchain", "PeernetNode",
                                                              "PeernetStore", "PeernetSupport", "PeernetExchange"],
                         swiftSettings: [.unsafeFlags(["-parse-as-library"])]),

        // Test-only helpers: the golden vectors from $PEERNET_VECTORS, bounded waiting, running
        // programs.
        .target(name: "TestSupport", dependencies: ["CSodium"], path: "Tests/TestSupport"),
        .testTarget(name: "PeernetCryptoTests", dependencies: ["PeernetCrypto", "CBLAKE3", "CSodium", "TestSupport"]),
        .testTarget(name: "PeernetProtocolTests",
                    dependencies: ["PeernetProtocol", "PeernetCrypto", "PeernetSupport", "TestSupport"]),
        .testTarget(name: "PeernetNodeTests", dependencies: ["PeernetNode", "PeernetProtocol", "PeernetCrypto", "PeernetSupport", "TestSupport"]),
        .testTarget(name: "PeernetServiceTests", dependencies: ["PeernetService", "PeernetFS", "PeernetNode", "PeernetSupport", "PeernetExchange", "PeernetStore", "PeernetCrypto", "PeernetProtocol"]),
        .testTarget(name: "PeernetBlockchainTests", dependencies: ["PeernetBlockchain", "PeernetProtocol", "PeernetCrypto", "PeernetSupport", "TestSupport"]),
        .testTarget(name: "PeernetStoreTests", dependencies: ["PeernetStore", "CLinuxCalls", "PeernetBlockchain", "PeernetProtocol", "PeernetCrypto", "TestSupport"]),
        .testTarget(name: "PeernetTransferTests", dependencies: ["PeernetTransfer", "PeernetProtocol"]),
        .testTarget(name: "PeernetExchangeTests", dependencies: ["PeernetExchange", "PeernetNode", "PeernetStore", "PeernetTransfer",
                                                                 "PeernetBlockchain", "PeernetProtocol", "PeernetCrypto", "PeernetSupport", "TestSupport"]),
        .testTarget(name: "PeernetFSTests", dependencies: ["PeernetFS", "PeernetExchange", "PeernetStore", "PeernetNode",
                                                           "PeernetBlockchain", "PeernetProtocol", "PeernetCrypto", "PeernetSupport", "TestSupport"]),
        .testTarget(name: "PeernetWebAPITests", dependencies: [
            "PeernetWebAPI", "PeernetExchange", "PeernetStore", "PeernetNode", "PeernetBlockchain", "PeernetProtocol", "PeernetCrypto",
            "PeernetSupport", "TestSupport", .product(name: "Yams", package: "Yams"),
        ], exclude: ["ReferenceResponses"]),
        .testTarget(name: "PeernetSupportTests", dependencies: ["PeernetSupport", "PeernetCrypto", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "PeernetCLITests", dependencies: ["PeernetCrypto", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
