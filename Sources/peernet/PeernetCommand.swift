import ArgumentParser
import PeernetSupport

@main
struct PeernetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peernet",
        abstract: "Peernet for Swift: the Peernet network as a drive.",
        discussion: """
        Peernet is a UDP peer-to-peer network where every user publishes a signed blockchain of \
        file metadata. This command runs a native node and, as the main job, mounts the network \
        as a FUSE filesystem.

        Examples:
          peernet mount ~/Peernet       mount the network as a drive (runs the node)
          peernet daemon                run a node in the foreground, without a mount
          peernet status                what the running node is doing
          peernet peers                 the peers it knows
          peernet share song.mp3        publish a file
          peernet ls                    your shared files
          peernet search holiday        search the network
          peernet get HASH -o file      download (verified)
          peernet identity              create or show this node's peer ID and node ID
          peernet hash song.mp3         print the BLAKE3 hash Peernet uses for a file
          peernet identity --json       the same as one JSON document, for scripts

        Every subcommand accepts --data-dir DIR (default $PEERNET_DATA_DIR, else \
        $XDG_DATA_HOME/peernet, else ~/.local/share/peernet) and --config FILE.
        """,
        version: PeernetVersion.string,
        subcommands: [MountCommand.self, UnmountCommand.self, DaemonCommand.self, StatusCommand.self, PeersCommand.self, ShareCommand.self, UnshareCommand.self, ListCommand.self,
                      SearchCommand.self, ExploreCommand.self, GetCommand.self, ProfileCommand.self, IdentityCommand.self, HashCommand.self,
                      ConfigCommand.self, RepairCommand.self]
    )
}

enum PeernetVersion {
    static let number = "0.1.0"
    static let string = "peernet \(number) (Peernet for Swift; wire protocol 0)"
    /// The user agent sent in Announcements: "Software/Version".
    static let userAgent = "Peernet Swift/\(number)"  // Node.userAgentPrefix + version
}

/// Options every subcommand accepts after its name.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp(
        "Data directory (identity, databases, warehouse).", valueName: "dir"))
    var dataDir: String?

    @Option(name: .customLong("config"), help: ArgumentHelp("Configuration file (YAML).", valueName: "file"))
    var config: String?

    var dataDirectory: DataDirectory { DataDirectory.resolve(explicit: dataDir) }

    func validate() throws {
        if let config, !FileManagerShim.isReadableFile(config) {
            throw ValidationError("the configuration file '\(config)' does not exist or is not readable")
        }
    }
}
