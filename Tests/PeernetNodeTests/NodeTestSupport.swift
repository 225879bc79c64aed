import Foundation
import PeernetCrypto
@testable import PeernetNode
import PeernetProtocol
import TestSupport
import XCTest

/// Builds nodes on 127.0.0.1 with ephemeral ports, no LAN discovery, fast timers.
enum TestNet {
    static func config(roots: [Node] = [], timings: NodeTimings = .steadyForTests) -> NodeConfig {
        var c = NodeConfig(listen: [Endpoint("127.0.0.1:0")!])
        c.rootPeers = roots.map { RootPeer(publicKey: $0.publicKey, addresses: $0.listenEndpoints) }
        c.timings = timings
        c.localDiscovery = false
        return c
    }

    static func node(key: PrivateKey = PrivateKey(), roots: [Node] = [], port: UInt16 = 0,
                     configure: (inout NodeConfig) -> Void = { _ in }) throws -> Node {
        var c = config(roots: roots)
        c.listen = [Endpoint(ip: IPAddress("127.0.0.1")!, port: port)]
        configure(&c)
        let n = try Node(key: key, config: c)
        n.start()
        return n
    }
}

