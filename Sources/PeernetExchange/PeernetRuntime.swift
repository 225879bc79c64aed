import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetNode
import PeernetStore
import PeernetSupport
import Synchronization

/// The composition root: store → node → exchange → search → downloader → publisher, wired the
/// same way for the daemon, the mount, the tests and the benchmark (it was written out four
/// times, and the copies drifted).
///
/// What the publisher changes on the chain is announced here, once: the new height and
/// version to peers, keyword records of new names to the DHT, and withdrawals of old ones
/// (a rename used to keep the old keywords).
public final class PeernetRuntime: Sendable {
    public let store: LocalStore
    public let node: Node
    public let exchange: BlockExchange
    public let search: NetworkSearch
    public let downloader: FileDownloader
    public let publisher: SharePublisher
    private let versionCheck = Mutex<Task<Void, Never>?>(nil)

    public struct Options: Sendable {
        /// The share folder (me/ of the drive); default `<data-dir>/share`.
        public var shareFolder: URL?
        public var publishing = SharePublisher.Options()
        /// Fetch chains of peers as they announce changes (off: only on demand).
        public var autoSync = true
        /// Keyword records: lifetime in seconds and how many nodes store each.
        public var recordLifetime: Double = 12 * 3600
        public var replication = 8
        public init() {}
    }

    /// Builds everything around an open store and a node (not started yet).
    public init(store: LocalStore, node: Node, options: Options = Options()) throws {
        self.store = store
        self.node = node
        exchange = BlockExchange(node: node, store: store, autoSync: options.autoSync)
        search = NetworkSearch(exchange: exchange, recordLifetime: options.recordLifetime, replication: options.replication)
        downloader = FileDownloader(exchange: exchange, search: search)
        publisher = try SharePublisher(store: store, folder: options.shareFolder ?? store.dataDirectory.file("share"),
                                       options: options.publishing)
        let exchange = self.exchange, search = self.search
        publisher.observe { change in
            exchange.publishChainState()
            Task {
                if !change.withdrawn.isEmpty { _ = await search.withdraw(change.withdrawn) }
                if !change.published.isEmpty { _ = await search.publish(change.published) }
            }
        }
    }

    /// Starts the node and the publisher (which publishes what changed while we were away).
    public func start() {
        node.start()
        publisher.start()
        // Once the node has peers (up to a minute), ask whether the network holds a newer
        // version of our chain than we do (a restored backup) and move ours above it.
        let node = self.node, search = self.search
        versionCheck.withLock {
            $0 = Task {
                for _ in 0..<600 where node.routingTableSize == 0 {
                    do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
                }
                guard node.routingTableSize > 0 else { return }
                await search.adoptNewerPublishedVersion()
            }
        }
    }

    public func stop() async {
        versionCheck.withLock { $0?.cancel() }
        publisher.stop()
        search.stop()
        exchange.stop()
        await node.stop()
    }
}
