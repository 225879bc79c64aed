import ArgumentParser
import Foundation
import PeernetCrypto
import PeernetService
import PeernetStore
import PeernetSupport

extension GlobalOptions {
    /// Runs `direct` on the data directory when no node owns it, else `viaNode` through the
    /// running node's control channel.
    func withStore<T>(direct: (LocalStore) throws -> T, viaNode: () throws -> T) throws -> T {
        try withStore(direct: { store, _ in try direct(store) }, viaNode: viaNode)
    }

    /// The same with the share folder's publisher (not started: one pass per call).
    func withPublisher<T>(direct: (SharePublisher) throws -> T, viaNode: () throws -> T) throws -> T {
        try withStore(direct: { store, config in
            var options = SharePublisher.Options()
            options.watch = false
            options.settle = config.publishDelay
            return try direct(try SharePublisher(store: store, folder: config.shareFolderURL(dataDirectory), options: options))
        }, viaNode: viaNode)
    }

    func withStore<T>(direct: (LocalStore, PeernetConfig) throws -> T, viaNode: () throws -> T) throws -> T {
        if FileManager.default.fileExists(atPath: controlPath), (try? ControlClient.call(path: controlPath, ControlRequest(command: "status"))) != nil {
            return try viaNode()
        }
        let config = try loadConfig()
        do {
            let key = try config.privateKey.map { try PrivateKey(hex: $0) }
                ?? IdentityStore(dataDirectory: dataDirectory).loadOrCreate().key
            let store = try LocalStore(dataDirectory: dataDirectory, key: key)
            for problem in store.chainProblems { Output.error("warning: \(problem)") }
            return try direct(store, config)
        } catch {
            Output.error("\(error)")
            throw ExitCode.failure
        }
    }

    func nodeCall<T: Decodable>(_ type: T.Type, _ command: String, _ arguments: [String: String] = [:]) throws -> T {
        try JSONDecoder().decode(T.self, from: callNode(command, arguments))
    }
}

func printFiles(_ files: [SharedFileInfo], json: Bool) throws {
    if json { try Output.json(files); return }
    if files.isEmpty { print("No shared files."); return }
    for f in files {
        // Folders (empty folders published as folder records) end in "/", as ls -p shows them.
        let path = (f.folder.isEmpty ? f.name : f.folder + "/" + f.name) + (f.type == "folder" ? "/" : "")
        print("\(f.id)  \(String(repeating: " ", count: max(0, 10 - ProgressBar.bytes(Double(f.size)).count)))\(ProgressBar.bytes(Double(f.size)))  \(path)")
    }
}

struct ShareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "share",
        abstract: "Publish files: copy them into your share folder (me/ of the drive) and publish them.",
        discussion: """
        Each file is copied into the share folder (ShareFolder, default <data-dir>/share; under \
        --folder), hashed, stored under its BLAKE3 hash and recorded in your blockchain, at once \
        (files you copy into the folder yourself are published after PublishDelay). A file whose \
        name is taken gets "name (2).ext". Interrupting it publishes nothing partial.
        Prints each shared file's ID and hash. Works with or without a running node.

        Examples:
          peernet share holiday.mp4 --folder Videos --description "Summer 2025 #beach"
          peernet share *.flac --folder "Music/Live" --json
        """
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Folder to list the files in (e.g. Music/Albums).", valueName: "folder")) var folder = ""
    @Option(help: ArgumentHelp("Name to publish under (one file only; default: the file's name).", valueName: "name")) var name: String?
    @Option(help: ArgumentHelp("Description; #hashtags become search words.", valueName: "text")) var description = ""
    @Flag(help: "Print one JSON document: the shared files.") var json = false
    @Argument(help: ArgumentHelp("Files to share.", valueName: "file")) var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one file to share") }
        if name != nil && files.count > 1 { throw ValidationError("--name applies to a single file; share the files one by one") }
        for f in files where f != "-" {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: f, isDirectory: &isDir) else { throw ValidationError("'\(f)' does not exist") }
            if isDir.boolValue { throw ValidationError("'\(f)' is a directory; share the files in it") }
        }
    }

    func run() async throws {
        let absolute = files.map { $0 == "-" ? $0 : URL(fileURLWithPath: $0).standardizedFileURL.path }
        let bar = ProgressBar(label: files.count == 1 ? (files[0] as NSString).lastPathComponent : "\(files.count) files")
        let shared: [SharedFileInfo] = try global.withPublisher(direct: { publisher in
            defer { bar.finish() }
            return try StoreActions.share(publisher, paths: absolute, folder: folder, name: name, description: description) { done, total in
                bar.update(done: done, total: total)
            }
        }, viaNode: {
            let job = UUID().uuidString
            let poll = Task.detached { [global] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(150))
                    if let p = try? JSONDecoder().decode([UInt64].self, from: ControlClient.call(
                        path: global.controlPath, ControlRequest(command: "progress", arguments: ["job": job]))), p.count == 2 {
                        bar.update(done: p[0], total: p[1])
                    }
                }
            }
            defer { poll.cancel(); bar.finish() }
            var args = ["paths": absolute.joined(separator: "\n"), "folder": folder, "description": description, "job": job]
            if let name { args["name"] = name }
            return try global.nodeCall([SharedFileInfo].self, "share", args)
        })
        if json { try Output.json(shared); return }
        for f in shared { print("\(f.id)  \(f.hash)  \(f.folder.isEmpty ? "" : f.folder + "/")\(f.name)") }
    }
}

struct UnshareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unshare",
        abstract: "Stop sharing files (by ID, or by the path of a shared file's content).",
        discussion: """
        Deletes the file from your share folder, which removes its record from your blockchain \
        (peers see the change at the next version) and the content from the warehouse when no \
        other record needs it. The original you shared from is not touched.

        Examples:
          peernet unshare 5f0c1e9a-3b7d-4c2e-9a51-0d2f6b8e4c11
          peernet unshare ~/Videos/holiday.mp4
        """
    )
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print one JSON document: the removed files.") var json = false
    @Argument(help: ArgumentHelp("File IDs or paths.", valueName: "id-or-path")) var targets: [String]

    func run() async throws {
        let absolute = targets.map { TransferIDLike.looksLikeID($0) ? $0 : URL(fileURLWithPath: $0).standardizedFileURL.path }
        let removed: [SharedFileInfo] = try global.withPublisher(direct: { try StoreActions.unshare($0, targets: absolute) },
                                                             viaNode: { try global.nodeCall([SharedFileInfo].self, "unshare", ["targets": absolute.joined(separator: "\n")]) })
        if json { try Output.json(removed); return }
        for f in removed { print("unshared \(f.id)  \(f.name)") }
    }
}

enum TransferIDLike {
    static func looksLikeID(_ s: String) -> Bool { s.count == 36 && s.filter { $0 == "-" }.count == 4 }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List your shared files.",
        discussion: "Examples:\n  peernet ls\n  peernet ls --folder Music --json"
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Only this folder.", valueName: "folder")) var folder: String?
    @Flag(help: "Print one JSON document: a list of files.") var json = false

    func run() async throws {
        var args: [String: String] = [:]
        if let folder { args["folder"] = folder }
        // A data directory that was never used has nothing shared: nothing is created to say so.
        let fresh = !FileManager.default.fileExists(atPath: global.dataDirectory.file("peernet.sqlite").path)
            && !FileManager.default.fileExists(atPath: global.controlPath)
        let files: [SharedFileInfo] = fresh ? [] : try global.withStore(direct: { try StoreActions.list($0, folder: folder) },
                                                           viaNode: { try global.nodeCall([SharedFileInfo].self, "ls", args) })
        try printFiles(files, json: json)
    }
}

struct ProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Read or change your public profile (name, email, website, twitter, youtube, address, picture).",
        discussion: """
        Profile fields are records in your blockchain: anyone who has your chain can read them.

        Examples:
          peernet profile get
          peernet profile set name "Alice Example"
          peernet profile delete email
        """,
        subcommands: [Get.self, Set.self, Delete.self], defaultSubcommand: Get.self
    )

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the profile (or one field).")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print one JSON document.") var json = false
        @Argument(help: "A field name.") var field: String?
        func run() async throws {
            let profile: [String: String] = try global.withStore(direct: { try StoreActions.profile($0) },
                                                                 viaNode: { try global.nodeCall([String: String].self, "profile.get") })
            if let field {
                guard let v = profile[field.lowercased()] else { Output.error("profile field '\(field)' is not set"); throw ExitCode.failure }
                if json { try Output.json([field: v]) } else { print(v) }
                return
            }
            if json { try Output.json(profile); return }
            if profile.isEmpty { print("The profile is empty. Set a field with: peernet profile set name \"Your Name\"") }
            for (k, v) in profile.sorted(by: { $0.key < $1.key }) { print("\(k): \(v)") }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a field (picture takes a file path).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The field.") var field: String
        @Argument(help: "The value.") var value: String
        func run() async throws {
            var bytes = Array(value.utf8)
            if field.lowercased() == "picture" {
                guard let data = FileManager.default.contents(atPath: value) else { Output.error("cannot read the picture '\(value)'"); throw ExitCode.failure }
                guard data.count <= 60_000 else { Output.error("the picture is \(data.count) bytes; keep it under 60 KB"); throw ExitCode.failure }
                bytes = [UInt8](data)
            }
            do { _ = try StoreActions.profileField(field) } catch { Output.error("\(error)"); throw Exit.config }
            try global.withStore(direct: { try StoreActions.setProfile($0, field: field, value: bytes) },
                                 viaNode: { _ = try global.callNode("profile.set", ["field": field, "value": value]) })
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a field.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The field.") var field: String
        func run() async throws {
            do { _ = try StoreActions.profileField(field) } catch { Output.error("\(error)"); throw Exit.config }
            let n: Int = try global.withStore(direct: { try StoreActions.deleteProfile($0, field: field) },
                                              viaNode: { try global.nodeCall(Int.self, "profile.delete", ["field": field]) })
            if n == 0 { print("\(field) was not set") }
        }
    }
}
