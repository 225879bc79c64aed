import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
@testable import PeernetFS
import PeernetNode
import PeernetProtocol
@testable import PeernetStore
import PeernetSupport
import CFuse3
import TestSupport
import XCTest

/// A full peer with a real FUSE mount, in the test process.
final class MountedPeer: @unchecked Sendable {
    let dir: URL
    let key: PrivateKey
    let runtime: PeernetRuntime
    let fs: PeernetFileSystem
    let mount: FuseMount
    let mountpoint: String
    private var thread: Thread?
    var store: LocalStore { runtime.store }
    var node: Node { runtime.node }
    var exchange: BlockExchange { runtime.exchange }
    var search: NetworkSearch { runtime.search }
    var downloader: FileDownloader { runtime.downloader }
    var publisher: SharePublisher { runtime.publisher }
    /// The share folder behind me/.
    var shareFolder: String { publisher.folder.path }

    /// `lookupRoundTimeout`: how long a DHT or search round waits for a quiet peer (the tests'
    /// timings make it 1 s; the default configuration's is 6 s).
    init(roots: [MountedPeer] = [], readTimeout: Double = 5, mountIt: Bool = true, settle: Double = 0.3,
         lookupRoundTimeout: Double? = nil, shareView: FuseMount.ShareView = .fuse) throws {
        dir = URL(fileURLWithPath: "/tmp/pnfs-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("mnt"), withIntermediateDirectories: true)
        key = PrivateKey()
        if let log = ProcessInfo.processInfo.environment["PEERNET_TEST_LOG"] {
            Log.shared.configure(file: URL(fileURLWithPath: log), level: .debug)
        }
        let store = try LocalStore(dataDirectory: DataDirectory(url: dir.appendingPathComponent("data")), key: key)
        var config = NodeConfig(listen: [Endpoint("127.0.0.1:0")!])
        config.rootPeers = roots.map { RootPeer(publicKey: $0.node.publicKey, addresses: $0.node.listenEndpoints) }
        // A mounted peer hashes, serves FUSE and runs programs on the same two cores: a
        // connection is not dropped for a pause shorter than 3 s (0.6 s dropped it under load).
        config.timings = .steadyForTests
        if let lookupRoundTimeout { config.timings.lookupRoundTimeout = lookupRoundTimeout }
        var options = PeernetRuntime.Options()
        options.recordLifetime = 600
        options.replication = 6
        options.publishing.settle = settle
        runtime = try PeernetRuntime(store: store, node: try Node(key: key, config: config), options: options)
        fs = try PeernetFileSystem(runtime: runtime, readTimeout: readTimeout)
        mountpoint = dir.appendingPathComponent("mnt").path
        mount = FuseMount(fs: fs, mountpoint: mountpoint, shareView: shareView)
        runtime.start()
        if mountIt {
            try mount.mount()
            let m = mount
            let t = Thread { m.run() }
            t.start()
            thread = t
            try mount.provideShare()
        }
    }

    var publicKey: PublicKey { key.publicKey }
    func path(_ p: String) -> String { mountpoint + "/" + p }

    /// Own published files by name (folder/name).
    func published() -> [String] {
        ((try? store.chain.files()) ?? []).filter { !$0.isVirtualFolder }.map { $0.folder.isEmpty ? $0.name : $0.folder + "/" + $0.name }.sorted()
    }

    /// Two mounted peers, B with A as its root, once each sees the other connected.
    static func connectedPair() async throws -> (MountedPeer, MountedPeer) {
        let a = try MountedPeer()
        let b = try MountedPeer(roots: [a])
        await eventually(5, "connected") { b.node.isConnected(a.publicKey) && a.node.isConnected(b.publicKey) }
        return (a, b)
    }

    /// Copies `bytes` random bytes into me/ as `name`; returns the source file's path and the
    /// file's path under `viewer`'s peers/ once the viewer lists it.
    func shareRandom(_ name: String, bytes: Int, seenBy viewer: MountedPeer) async throws -> (source: String, remote: String) {
        let source = dir.appendingPathComponent(name).path
        XCTAssertEqual(sh("head -c \(bytes) /dev/urandom > \(source) && cp \(source) \(path("me/\(name)"))").status, 0)
        let remote = viewer.path("peers/\(node.publicKey.hexString)/\(name)")
        await eventually(20, "\(name) listed by the viewer") { FileManager.default.fileExists(atPath: remote) }
        return (source, remote)
    }

    /// Publishes `bytes` as `name` straight from the warehouse (for a peer that is not
    /// mounted); returns its path under `viewer`'s peers/ once the viewer lists it.
    func publishFromWarehouse(_ name: String, _ bytes: [UInt8], seenBy viewer: MountedPeer) async throws -> String {
        let imported = try store.warehouse.importData(bytes)
        try store.chain.addFiles([FileRecord(hash: imported.hash, id: .random(), merkleRoot: imported.merkle.root,
                                             fragmentSize: imported.merkle.fragmentSize, type: 0, format: 0, size: imported.size,
                                             tags: [FileTag(type: FileTag.name, text: name)])])
        exchange.publishChainState()
        let remote = viewer.path("peers/\(node.publicKey.hexString)/\(name)")
        await eventually(15, "\(name) listed by the viewer") { FileManager.default.fileExists(atPath: remote) }
        return remote
    }

    func stop() async {
        mount.stop()
        usleep(200_000)
        await runtime.stop()
        // Drive tests left their folder behind now and then: the publisher's pass after stop()
        // (fixed) wrote into it while it was removed. rm -rf also goes on past what it cannot
        // remove, where FileManager stops at the first error.
        _ = try? runProcess(URL(fileURLWithPath: "/bin/rm"), ["-rf", dir.path])
    }
}

func fuseAvailable() throws {
    guard FileManager.default.fileExists(atPath: "/dev/fuse"), getuid() == 0 else {
        FileHandle.standardError.write(Data("notice: FUSE tests skipped (need /dev/fuse and root)\n".utf8))
        throw XCTSkip("FUSE not available")
    }
}

/// An extended attribute's value (nil if absent), read with getxattr(2) from this process: the
/// mount's handlers run on libfuse's own threads, so this cannot wait on itself.
func xattr(_ path: String, _ name: String) -> [UInt8]? {
    let size = getxattr(path, name, nil, 0)
    guard size >= 0 else { return nil }
    var value = [UInt8](repeating: 0, count: size)
    let got = value.withUnsafeMutableBytes { getxattr(path, name, $0.baseAddress, size) }
    return got >= 0 ? Array(value.prefix(got)) : nil
}

/// The errno of getxattr(2) for `name` on `path` (0 when it succeeds).
func xattrError(_ path: String, _ name: String) -> Int32 {
    getxattr(path, name, nil, 0) >= 0 ? 0 : errno
}
