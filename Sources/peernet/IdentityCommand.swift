import Foundation
import ArgumentParser
import PeernetCrypto
import PeernetService
import PeernetSupport

struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Show, export or import this node's identity (its private key).",
        subcommands: [IdentityShowCommand.self, IdentityExportCommand.self, IdentityImportCommand.self],
        defaultSubcommand: IdentityShowCommand.self
    )
}

struct IdentityShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Create or show this node's identity (peer ID and node ID).",
        discussion: """
        The identity is PrivateKey in the configuration when it is set (then nothing is \
        created), else <data-dir>/identity.key: the first run creates a new secp256k1 key there \
        (mode 0600); later runs show the same identity. The peer ID is the compressed public key (66 hex digits); \
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
        var keyFile = store.keyURL.path
        // Every command agrees on the identity: PrivateKey in the configuration first (the
        // daemon runs with it), then identity.key. With a configured key nothing is created.
        let config = try global.loadConfig()
        do {
            if let hex = config.privateKey {
                do { key = try PrivateKey(hex: hex) } catch { throw ControlError.remote("PrivateKey in the configuration is not a valid key: \(error)") }
                created = false
                keyFile = "PrivateKey in " + (global.config ?? PeernetConfig.defaultPath())
            } else {
                (key, created) = try store.loadOrCreate()
            }
        } catch {
            Output.error("\(error)")
            throw ExitCode(2)
        }
        let report = Report(peerId: key.publicKey.hexString, nodeId: Hex.encode(key.publicKey.nodeID),
                            keyFile: keyFile, created: created)
        if json {
            try Output.json(report)
        } else {
            if created { print("Created a new identity in \(report.keyFile)") }
            print("Peer ID: \(report.peerId)")
            print("Node ID: \(report.nodeId)")
        }
    }
}

/// Writes the private key to a file (0600) for a backup or another machine.
struct IdentityExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the private key to a file (mode 0600), or to stdout with '-'.",
        discussion: """
        The file holds 64 hex digits: the same text as the reference client's PrivateKey \
        setting, so it can be pasted there. Whoever has it can publish as you: keep it safe.

        Examples:
          peernet identity export ~/peernet-key.txt
          peernet identity export - | gpg -c > key.gpg
        """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Where to write the key ('-' for stdout).") var file: String
    @Flag(help: "Replace an existing file.") var force = false

    func run() async throws {
        let store = IdentityStore(dataDirectory: global.dataDirectory)
        let key: PrivateKey
        do {
            guard let k = try store.load() else {
                Output.error("no identity in \(store.keyURL.path) yet; run 'peernet identity' to create one")
                throw ExitCode(2)
            }
            key = k
        } catch let e as ExitCode { throw e } catch {
            Output.error("\(error)")
            throw ExitCode(2)
        }
        if file == "-" { print(key.hexString); return }
        let url = URL(fileURLWithPath: file)
        if FileManager.default.fileExists(atPath: url.path) && !force {
            Output.error("\(url.path) exists; pass --force to replace it")
            throw ExitCode.failure
        }
        do { try AtomicFile.write(Array((key.hexString + "\n").utf8), to: url, mode: 0o600) } catch {
            Output.error("cannot write \(url.path): \(error)")
            throw ExitCode.failure
        }
        print("Exported the identity \(key.publicKey.hexString) to \(url.path) (mode 0600)")
    }
}

/// Replaces this node's key with one from a file (a backup, or the reference client's key).
struct IdentityImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Use the private key in a file (64 hex digits; '-' reads stdin) as this node's identity.",
        discussion: """
        Accepts a file written by 'peernet identity export', or the PrivateKey value of the \
        reference client's Config.yaml. Replacing an existing, different identity needs --force: \
        files you shared under the old identity stay with the old key (export it first).

        Examples:
          peernet identity import ~/peernet-key.txt
          peernet identity import --force backup.txt
        """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The key file ('-' for stdin).") var file: String
    @Flag(help: "Replace an existing, different identity.") var force = false

    func run() async throws {
        let text: String
        if file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let t = try? String(contentsOfFile: file, encoding: .utf8) else {
                Output.error("cannot read \(file)")
                throw ExitCode.failure
            }
            text = t
        }
        // Either bare hex or a "PrivateKey: <hex>" line from a Config.yaml.
        var candidate = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let line = text.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("PrivateKey:") }) {
            candidate = String(line.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\"'")))
        }
        guard let key = try? PrivateKey(hex: candidate) else {
            Output.error("\(file) does not hold a private key (expected 64 hex digits of a valid secp256k1 key)")
            throw ExitCode(2)
        }
        let store = IdentityStore(dataDirectory: global.dataDirectory)
        if let existing = try? store.load(), existing.publicKey != key.publicKey, !force {
            Output.error("this node already has the identity \(existing.publicKey.hexString); pass --force to replace it (export it first: peernet identity export FILE)")
            throw ExitCode.failure
        }
        do { try store.save(key) } catch {
            Output.error("\(error)")
            throw ExitCode.failure
        }
        print("Imported the identity \(key.publicKey.hexString) into \(store.keyURL.path)")
    }
}
