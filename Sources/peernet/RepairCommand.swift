import ArgumentParser
import Foundation
import PeernetCrypto
import PeernetService
import PeernetStore
import PeernetSupport
import Logging

private let storeLog = Logger.peernet("store")

/// `peernet repair`: checks your blockchain as peers check it and rebuilds it when it is damaged.
struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Check your blockchain and rebuild it if it is damaged (with the node stopped).",
        discussion: """
        Every block is checked as a peer would check it: signature, owner, number, version, the \
        link to the previous block, the records. A damaged chain is rewritten from what survives, \
        under a new version (peers then replace their copy); files of your share folder whose \
        records were in damaged blocks are published again when the node runs. Exit code 0 when \
        the chain is sound or was repaired, 1 when it cannot be.

        Examples:
          peernet repair
          peernet repair --check      only check, change nothing (exit 1 when damaged)
        """
    )
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Only check; change nothing.") var check = false

    func run() async throws {
        if FileManager.default.fileExists(atPath: global.controlPath),
           (try? ControlClient.call(path: global.controlPath, ControlRequest(command: "status"))) != nil {
            Output.error("a node is running for this data directory; stop it first (Ctrl-C, or peernet unmount), then run peernet repair")
            throw ExitCode.failure
        }
        let config = try global.loadConfig()
        let store: LocalStore
        do {
            let key = try config.privateKey.map { try PrivateKey(hex: $0) } ?? IdentityStore(dataDirectory: global.dataDirectory).loadOrCreate().key
            store = try LocalStore(dataDirectory: global.dataDirectory, key: key)
        } catch {
            Output.error("\(error)")
            throw ExitCode.failure
        }
        let damage = store.chain.verify()
        if damage.isEmpty {
            print("Your blockchain is sound: \(store.chain.height) blocks, version \(store.chain.version), \((try? store.chain.files().count) ?? 0) files.")
            return
        }
        for d in damage { print("damaged: \(d)") }
        if check { throw ExitCode.failure }
        do {
            let kept = try store.chain.rebuild()
            let forgotten = try SharePublisher.forgetRecordsMissingFromChain(store)
            storeLog.info("blockchain rebuilt by peernet repair: \(kept) files kept, version \(store.chain.version)")
            print("Rebuilt your blockchain: \(kept) files kept, version \(store.chain.version), \(store.chain.height) blocks.")
            if forgotten > 0 { print("\(forgotten) files of your share folder will be published again when the node runs.") }
        } catch {
            Output.error("cannot rebuild the blockchain: \(error)")
            throw ExitCode.failure
        }
    }
}
