import ArgumentParser
import Foundation
import PeernetService

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Download a file by its hash or file ID (from 'peernet search').",
        discussion: """
        Every fragment is verified against the file's Merkle root before it is written; corrupt \
        data from a holder is refetched from another one. Needs a running node.

        A hash nobody is known to hold yet is looked for up to --timeout seconds: a reference \
        node never announces its hashes, so its new files are known once its chain is fetched \
        again (every 15 s).

        Examples:
          peernet get 6cc9dce05d4cff8c5bef5c5a24681e42b13f03e34a0bc5e66f65a91d48c944fa -o song.mp3
          peernet get 5f0c1e9a-3b7d-4c2e-9a51-0d2f6b8e4c11
        """
    )
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the file (default: the hash, in the current folder).", valueName: "file"))
    var output: String?
    @Flag(help: "Print one JSON document when done.") var json = false
    @Option(help: ArgumentHelp("Seconds to look for holders of a file nobody is known to hold yet (0-600).", valueName: "seconds"))
    var timeout: Double = 30
    @Argument(help: "A content hash (64 hex digits) or a file ID.") var target: String

    func validate() throws {
        if timeout < 0 || timeout > 600 { throw ValidationError("--timeout must be between 0 and 600 seconds") }
    }

    func run() async throws {
        let path = URL(fileURLWithPath: output ?? target).standardizedFileURL.path
        let job = try global.nodeCall([String: String].self, "get.start",
                                      ["target": target, "output": path, "timeout": String(timeout)])["job"] ?? ""
        struct Poll: Decodable {
            let received: UInt64; let total: UInt64; let done: Bool; let error: String?; let output: String?; let searching: Bool?
        }
        let bar = ProgressBar(label: (path as NSString).lastPathComponent)
        var last: Poll?
        var said = false
        while true {
            // The node answers when the download ends, or after 0.25 s with its progress.
            let asked = Date()
            let p = try global.nodeCall(Poll.self, "get.poll", ["job": job, "wait": "0.25"])
            last = p
            if p.searching == true && !said && isatty(2) != 0 {
                FileHandle.standardError.write(Data("looking for holders… (up to \(Int(timeout)) s)\n".utf8))
                said = true
            }
            bar.update(done: p.received, total: p.total)
            if p.done { break }
            // A node of an older version answers at once: do not ask it in a tight loop.
            if Date().timeIntervalSince(asked) < 0.05 { try await Task.sleep(for: .milliseconds(100)) }
        }
        bar.finish()
        if let error = last?.error {
            Output.error(error)
            throw ExitCode.failure
        }
        if json { try Output.json(["output": path, "size": String(last?.total ?? 0)]) } else { print(path) }
    }
}
