import ArgumentParser
import PeernetCrypto
import PeernetSupport

struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Create or show this node's identity (peer ID and node ID).",
        discussion: """
        The first run creates a new secp256k1 key in <data-dir>/identity.key (mode 0600); later \
        runs show the same identity. The peer ID is the compressed public key (66 hex digits); \
        the node ID is its BLAKE3 hash, the node's address in the DHT.

        Examples:
          peernet identity
          peernet identity --data-dir /tmp/node2 --json
        """
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print one JSON document: {peerId, nodeId, keyFile, created}.") var json = false

    struct Report: Encodable {
        let peerId: String
        let nodeId: String
        let keyFile: String
        let created: Bool
    }

    func run() async throws {
        let store = IdentityStore(dataDirectory: global.dataDirectory)
        let key: PrivateKey
        let created: Bool
        do {
            (key, created) = try store.loadOrCreate()
        } catch {
            Output.error("\(error)")
            throw ExitCode(2)
        }
        let report = Report(peerId: key.publicKey.hexString, nodeId: Hex.encode(key.publicKey.nodeID),
                            keyFile: store.keyURL.path, created: created)
        if json {
            try Output.json(report)
        } else {
            if created { print("Created a new identity in \(report.keyFile)") }
            print("Peer ID: \(report.peerId)")
            print("Node ID: \(report.nodeId)")
        }
    }
}
