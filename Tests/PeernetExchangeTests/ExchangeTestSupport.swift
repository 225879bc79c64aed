import Foundation
import PeernetBlockchain
import PeernetCrypto
@testable import PeernetExchange
import PeernetNode
import PeernetProtocol
@testable import PeernetStore
import PeernetSupport
import TestSupport
import XCTest

/// A full peer in one process: store (temp directory), node on 127.0.0.1, block exchange.
final class TestPeer: @unchecked Sendable {
    let key: PrivateKey
    let dir: URL
    let store: LocalStore
    let node: Node
    let exchange: BlockExchange
    let search: NetworkSearch

    init(key: PrivateKey = PrivateKey(), roots: [TestPeer] = [], dir: URL? = nil, port: UInt16 = 0, autoSync: Bool = true,
         configure: (inout NodeConfig) -> Void = { _ in }) throws {
        self.key = key
        self.dir = dir ?? URL(fileURLWithPath: "/tmp/pn-ex-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: self.dir, withIntermediateDirectories: true)
        store = try LocalStore(dataDirectory: DataDirectory(url: self.dir), key: key)
        var config = NodeConfig(listen: [Endpoint(ip: IPAddress("127.0.0.1")!, port: port)])
        config.rootPeers = roots.map { RootPeer(publicKey: $0.node.publicKey, addresses: $0.node.listenEndpoints) }
        config.timings = .steadyForTests
        configure(&config)
        node = try Node(key: key, config: config)
        exchange = BlockExchange(node: node, store: store, autoSync: autoSync)
        search = NetworkSearch(exchange: exchange, recordLifetime: 600, replication: 6)
        node.start()
    }

    var publicKey: PublicKey { key.publicKey }

    /// Shares in-memory files (name -> content) in one block append.
    @discardableResult
    func share(_ files: [(String, [UInt8])], folder: String = "") throws -> [FileRecord] {
        var records: [FileRecord] = []
        for (name, data) in files {
            let imported = try store.warehouse.importData(data)
            var tags = [FileTag(type: FileTag.name, text: name)]
            if !folder.isEmpty { tags.append(FileTag(type: FileTag.folder, text: folder)) }
            records.append(FileRecord(hash: imported.hash, id: .random(), merkleRoot: imported.merkle.root,
                                      fragmentSize: imported.merkle.fragmentSize, type: 1, format: 10, size: imported.size, tags: tags))
        }
        try store.chain.addFiles(records)
        exchange.publishChainState()
        return records
    }

    func stop(removeData: Bool = true) async {
        search.stop()
        exchange.stop()
        await node.stop()
        if removeData { try? FileManager.default.removeItem(at: dir) }
    }

    func cachedNames(of other: TestPeer) -> [String] {
        ((try? store.catalog.files(owner: other.publicKey)) ?? []).map(\.file.name).sorted()
    }
}

