import ArgumentParser
import Foundation
import PeernetFS
import PeernetService
import PeernetSupport
#if canImport(Glibc)
import Glibc
#endif
import Logging

private let mountLog = Logger.peernet("mount")

struct MountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount the Peernet network as a drive (runs the node too).",
        discussion: """
        Layout:
          me/             your share folder (ShareFolder, default
                          <data-dir>/share), a real folder: what is in it is
                          published once closed and unchanged for PublishDelay
                          (2 s); rm unshares; hidden, temp, swap and journal
                          files and .peernetignore patterns are never published
                          (getfattr -n user.peernet.state FILE: published,
                          pending or failed; .peernet/publishing lists all
                          that is pending)
                          By default me is a link to that folder: programs in
                          it work at local speed (find/du/tar of the whole
                          drive do not follow the link; use me/ or -L).
                          --share-view fuse makes me/ a directory of the drive
                          whose every operation passes the node (many small
                          files ~4x slower; states computed for every file);
                          --share-view bind (root only) binds the folder there
                          (local speed, but file managers cannot trash there).
          peers/<id>/     every known peer's shares (browsable offline)
          search/<words>/ cd or ls here to search the network ("hol" finds
                          "holiday", "mp4" finds videos; several words: files
                          with all of them first)
          files/<hash>    any file by its BLAKE3 hash
          .peernet/       status: identity, peers, transfers, cache,
                          publishing, searches

        Runs in the foreground until Ctrl-C, SIGTERM or 'peernet unmount'; --background detaches \
        (logs go to <data-dir>/peernet.log). Other commands talk to the mounted node as to the \
        daemon. The mount is private to you unless --allow-other is given.

        The network options (--listen, --root, --no-root-peers, --no-lan-discovery) override \
        the configuration for this run, as for 'peernet daemon'.

        Examples:
          peernet mount ~/Peernet
          peernet mount ~/Peernet --background
          peernet mount ~/Peernet --listen 127.0.0.1:7001 \\
              --no-root-peers --no-lan-discovery    (private, offline)
          peernet unmount ~/Peernet
        """
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var network: NetworkOptions
    @Flag(help: "Detach and run in the background.") var background = false
    @Flag(name: .customLong("allow-other"), help: "Let other users see the mount (needs user_allow_other in /etc/fuse.conf).")
    var allowOther = false
    @Option(name: .customLong("share-view"), help: ArgumentHelp(
        "How me/ is provided: link (the default: me is a symbolic link to the share folder: local speed, no root needed; find and du do not follow it unless told to), fuse (me/ is a directory of the drive and every operation passes the node; many small files are 4-5x slower than on a local disk), or bind (the share folder bound onto me/: local speed; needs root; file managers cannot move files to the trash there).",
        valueName: "link|fuse|bind"))
    var shareView: FuseMount.ShareView?
    @Argument(help: "Where to mount (default: MountPoint from the configuration, else ~/Peernet).") var mountpoint: String?

    func run() async throws {
        var config = try global.loadConfig()
        try network.apply(to: &config)
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        let target = URL(fileURLWithPath: mountpoint ?? config.mountPoint ?? home + "/Peernet").standardizedFileURL.path
        try? FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        if background && ProcessInfo.processInfo.environment["PEERNET_DETACHED"] == nil {
            try detach(target)
            return
        }
        let service = try global.startService(config)
        try await global.startWebAPI(service, config)
        let fs: PeernetFileSystem
        do {
            fs = try PeernetFileSystem(runtime: service.runtime, readTimeout: config.readTimeout)
        } catch {
            Output.error("\(error)")
            await service.stop()
            throw ExitCode.failure
        }
        let view = shareView ?? config.shareView
        let mount = FuseMount(fs: fs, mountpoint: target, allowOther: allowOther, shareView: view)
        do { try mount.mount() } catch {
            Output.error("\(error)")
            await service.stop()
            throw ExitCode.failure
        }
        let loopEnded = OnceFlag()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            mount.run()
            _ = loopEnded.take()
            done.signal()
        }
        thread.name = "peernet-fuse"
        thread.start()
        let bound: Bool
        do { bound = try mount.provideShare() } catch {
            Output.error("\(error)")
            mount.stop()
            _ = done.wait(timeout: .now() + 10)
            await service.stop()
            throw ExitCode.failure
        }
        Output.line("Peernet mounted at \(target). Peer ID \(service.node.publicKey.hexString)")
        let how = bound ? " (\(fs.publisher.folder.path), bound onto the drive)" : view == .link ? " (a link to \(fs.publisher.folder.path))" : ""
        Output.line("  \(target)/me/ is your share folder\(how): copy files in to publish them (\(config.publishDelay.formatted()) s after they are closed).")
        Output.line("  \(target)/peers/ lists other peers' shares; cd \(target)/search/<words> to search. Ctrl-C unmounts.")
        service.reportIfAlone(after: Double(ProcessInfo.processInfo.environment["PEERNET_ALONE_AFTER"] ?? "") ?? 20, roots: config.seedList, lanDiscovery: config.localDiscovery) { Output.error("warning: \($0)") }
        mountLog.info("mounted at \(target)")
        // Ends on a signal or when the kernel unmounts us (fusermount3 -u, peernet unmount).
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            SignalWaiter.install([SIGINT, SIGTERM]) { if once.take() { c.resume() } }
            DispatchQueue.global().async {
                done.wait()
                done.signal()
                if once.take() { c.resume() }
            }
        }
        mount.stop()
        _ = done.wait(timeout: .now() + 10)
        Output.line("Unmounted \(target).")
        mountLog.info("unmounted \(target)")
        await service.stop()
    }

    /// Re-runs this command detached (new session, output to the log) and waits for the mount.
    func detach(_ target: String) throws {
        let data = global.dataDirectory
        try data.create()
        let log = data.file("peernet.log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        var args = ["mount", target, "--data-dir", data.path]
        if let c = global.config { args += ["--config", c] }
        if allowOther { args.append("--allow-other") }
        if let shareView { args += ["--share-view", shareView.rawValue] }
        args += network.arguments
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: p.executableURL!.path) { p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["PEERNET_DETACHED"] = "1"
        p.environment = env
        // O_APPEND: the node's own log lines go to the same file.
        let fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        let handle = fd >= 0 ? FileHandle(fileDescriptor: fd, closeOnDealloc: true) : nil
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: target + "/.peernet") { print("Peernet mounted at \(target) (background, pid \(p.processIdentifier), log \(log))"); return }
            if !p.isRunning { break }
            usleep(100_000)
        }
        Output.error("the background mount did not come up; see \(log)")
        throw ExitCode.failure
    }
}

struct UnmountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmount",
        abstract: "Unmount a Peernet drive (also clears a mount left dead by a crash).",
        discussion: "Examples:\n  peernet unmount ~/Peernet"
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The mount point.") var mountpoint: String

    func run() async throws {
        let path = URL(fileURLWithPath: mountpoint).standardizedFileURL.path
        // A bound me/ first: a mount with another inside cannot be unmounted.
        FuseMount.releaseBoundShare(at: path)
        for tool in ["/bin/fusermount3", "/usr/bin/fusermount3"] where FileManager.default.isExecutableFile(atPath: tool) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tool)
            p.arguments = ["-u", path]
            let err = Pipe()
            p.standardError = err
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus == 0 { print("Unmounted \(path)"); return }
            // A dead mount (crashed process): lazy unmount.
            FuseMount.clearStaleMount(path)
            if access(path, F_OK) == 0 && !FuseMount.isMountPoint(path) { print("Unmounted \(path)"); return }
            Output.error("cannot unmount \(path): \(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
            throw ExitCode.failure
        }
        Output.error("fusermount3 not found; install fuse3")
        throw ExitCode.failure
    }
}

extension FuseMount.ShareView: ExpressibleByArgument {}
