import Foundation
import TestSupport
import XCTest

/// `peernet mount` as a user runs it: a real FUSE mount by the built binary (loopback only).
final class MountCLITests: XCTestCase {
    var dir: URL!
    var processes: [Process] = []

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: "/dev/fuse") else { throw XCTSkip("no /dev/fuse") }
        dir = URL(fileURLWithPath: "/tmp/pn-m-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try CLITests.loopbackConfig.write(to: dir.appendingPathComponent("loopback.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        guard let dir else { return }
        _ = sh("fusermount3 -uz \(dir.path)/mnt 2>/dev/null; true")
        try? FileManager.default.removeItem(at: dir)
    }

    var mountpoint: String { dir.appendingPathComponent("mnt").path }
    var data: String { dir.appendingPathComponent("data").path }

    /// Starts `peernet mount` in the foreground (as a child) and waits for the drive.
    func mount(_ extra: [String] = []) throws -> Process {
        let p = try startPeernet(["mount", mountpoint, "--data-dir", data, "--config", dir.appendingPathComponent("loopback.yaml").path] + extra,
                                 readyWhen: mountpoint + "/.peernet/identity", timeout: 20,
                                 log: dir.appendingPathComponent("mount\(processes.count).log"))
        processes.append(p)
        XCTAssertTrue(FileManager.default.fileExists(atPath: mountpoint + "/.peernet/identity"), "the drive came up")
        return p
    }

    func isMounted() -> Bool {
        ((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").split(separator: "\n")
            .contains { $0.split(separator: " ").dropFirst().first.map(String.init) == mountpoint }
    }

    /// kill -9 of the mount: during a `cp` the copy fails with the mount (or, with FUSE
    /// passthrough, completes, the open file being the folder's own) and what was written
    /// stays in the share folder (as on a local disk); right after a `cp` returned, before the
    /// settle time let it be published, the file is there after the next mount and is then
    /// published. The dead mount is cleared by the next `peernet mount`.
    func testKillDuringAndAfterCopyKeepsTheFileAndTheStaleMountIsCleared() throws {
        // me/ through FUSE: what the node's death does to programs working in it. (With the
        // link and bind views programs never talk to the node: see the test below.)
        let fuse = ["--share-view", "fuse"]
        let source = dir.appendingPathComponent("big.bin").path
        XCTAssertEqual(sh("head -c 400000000 /dev/zero > \(source)").status, 0)
        let first = try mount(fuse)
        // A slow copy (throttled by dd's small blocks) into me/, killed once it is well under way.
        let copy = Process()
        copy.executableURL = URL(fileURLWithPath: "/bin/sh")
        copy.arguments = ["-c", "dd if=\(source) of=\(mountpoint)/me/big.bin bs=4k 2>/dev/null"]
        try copy.run()
        let backing = data + "/share/big.bin"
        let deadline = Date().addingTimeInterval(20)
        var written: UInt64 = 0
        while Date() < deadline {
            written = (try? FileManager.default.attributesOfItem(atPath: backing))?[.size] as? UInt64 ?? 0
            if written > 20_000_000 { break }
            usleep(20_000)
        }
        XCTAssertGreaterThan(written, 20_000_000, "the copy was under way")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        copy.waitUntilExit()
        // The mount point is dead ("Transport endpoint is not connected") until cleared.
        XCTAssertNotEqual(access(mountpoint + "/me", F_OK), 0)
        let kept = (try? FileManager.default.attributesOfItem(atPath: backing))?[.size] as? UInt64 ?? 0
        XCTAssertGreaterThanOrEqual(kept, written, "what was written is in the folder")
        if copy.terminationStatus == 0 {
            // FUSE passthrough: the open file writes to the share folder's file in the kernel,
            // so the copy ends well without the node, and all of it is in the folder.
            XCTAssertEqual(kept, 400_000_000, "a copy that succeeded is complete in the folder")
        }

        let second = try mount(fuse)
        XCTAssertEqual(sh("grep -c ' \(mountpoint) ' /proc/mounts").out, "1\n", "one mount, the dead one cleared")
        XCTAssertEqual(sh("ls -A \(mountpoint)/me").out, "big.bin\n")
        XCTAssertEqual(sh("rm \(mountpoint)/me/big.bin").status, 0)
        // A copy that returned, then kill -9 at once (inside the 2 s settle time).
        XCTAssertEqual(sh("head -c 1000000 /dev/urandom > \(dir.path)/fresh.bin && cp \(dir.path)/fresh.bin \(mountpoint)/me/").status, 0)
        kill(second.processIdentifier, SIGKILL)
        second.waitUntilExit()
        let third = try mount(fuse)
        XCTAssertEqual(sh("cmp \(dir.path)/fresh.bin \(mountpoint)/me/fresh.bin").status, 0, "the file survived kill -9")
        let published = Date().addingTimeInterval(20)
        var listing = ""
        while Date() < published {
            listing = sh("\(CLITests.binary.path) ls --data-dir \(data)").out
            if listing.contains("fresh.bin") && !listing.contains("big.bin") { break }
            usleep(200_000)
        }
        XCTAssertTrue(listing.contains("fresh.bin") && !listing.contains("big.bin"), "published after the restart: \(listing)")
        XCTAssertEqual(sh("getfattr --only-values -n user.peernet.state \(mountpoint)/me/fresh.bin 2>/dev/null || "
                          + "python3 -c \"import os; print(os.getxattr('\(mountpoint)/me/fresh.bin', 'user.peernet.state').decode(), end='')\"").out,
                       "published")
        third.terminate()
        third.waitUntilExit()
        XCTAssertTrue(waitUnmounted())
        let again = try mount(fuse)

        // A complete copy publishes; SIGTERM unmounts cleanly; it is there after the next mount.
        XCTAssertEqual(sh("head -c 1000000 /dev/urandom > \(dir.path)/small.bin && cp \(dir.path)/small.bin \(mountpoint)/me/").status, 0)
        XCTAssertEqual(sh("cmp \(dir.path)/small.bin \(mountpoint)/me/small.bin").status, 0)
        again.terminate()
        again.waitUntilExit()
        XCTAssertEqual(again.terminationStatus, 0, "clean exit on SIGTERM")
        XCTAssertFalse(isMounted(), "unmounted on SIGTERM: " + sh("grep \(mountpoint) /proc/mounts; cat \(dir.path)/*.log").out)
        let fourth = try mount(fuse)
        XCTAssertEqual(sh("cmp \(dir.path)/small.bin \(mountpoint)/me/small.bin").status, 0, "published file survives a restart")
        // `peernet unmount` ends the foreground mount too.
        XCTAssertEqual(sh("\(CLITests.binary.path) unmount \(mountpoint)").status, 0)
        let until = Date().addingTimeInterval(10)
        while fourth.isRunning && Date() < until { usleep(50_000) }
        XCTAssertFalse(fourth.isRunning, "the mount process ends when unmounted")
        XCTAssertFalse(isMounted())
    }

    /// The default view, `link`: me is a symbolic link to the share folder. A copy into it is
    /// published with `user.peernet.state` on the file; `peernet unmount` leaves no mount;
    /// after kill -9 right after a copy the next mount clears the dead drive and publishes the
    /// file; SIGTERM ends the mount cleanly.
    func testLinkShareViewIsTheDefaultAndPublishesAndUnmounts() throws {
        try checkLocalShareView([], mounted: [mountpoint]) {
            XCTAssertEqual((try? FileManager.default.destinationOfSymbolicLink(atPath: mountpoint + "/me")), data + "/share", "me is a link to the share folder")
        }
    }

    /// `--share-view bind`: me/ is the share folder bound onto the drive; the same checks, and
    /// `peernet unmount` and the next mount after kill -9 release the bind with the drive.
    func testBoundShareViewMountsPublishesAndUnmounts() throws {
        try checkLocalShareView(["--share-view", "bind"], mounted: [mountpoint, mountpoint + "/me"]) {}
    }

    /// A view in which programs in me/ use the share folder itself (`link`, `bind`).
    func checkLocalShareView(_ arguments: [String], mounted: [String], _ isTheView: () -> Void) throws {
        func mounts() -> [String] {
            ((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }.filter { $0.hasPrefix(mountpoint) }.sorted()
        }
        let first = try mount(arguments)
        XCTAssertEqual(mounts(), mounted)
        isTheView()
        XCTAssertEqual(sh("head -c 100000 /dev/urandom > \(dir.path)/photo.jpg && cp \(dir.path)/photo.jpg \(mountpoint)/me/").status, 0)
        XCTAssertEqual(sh("cmp \(dir.path)/photo.jpg \(data)/share/photo.jpg").status, 0, "me/ is the share folder")
        let deadline = Date().addingTimeInterval(20)
        var state = ""
        while Date() < deadline {
            state = sh("python3 -c \"import os; print(os.getxattr('\(mountpoint)/me/photo.jpg', 'user.peernet.state').decode(), end='')\" 2>/dev/null").out
            if state == "published" { break }
            usleep(100_000)
        }
        XCTAssertEqual(state, "published")
        XCTAssertTrue(sh("\(CLITests.binary.path) ls --data-dir \(data)").out.contains("photo.jpg"))
        XCTAssertEqual(sh("\(CLITests.binary.path) unmount \(mountpoint)").status, 0)
        let until = Date().addingTimeInterval(10)
        while first.isRunning && Date() < until { usleep(50_000) }
        XCTAssertFalse(first.isRunning, "the mount process ends when unmounted")
        XCTAssertEqual(mounts(), [], "no mount is left")

        // kill -9 right after a copy returned, inside the settle time: the file is in me/ after
        // the next mount, and is then published.
        let second = try mount(arguments)
        XCTAssertEqual(sh("head -c 100000 /dev/urandom > \(dir.path)/fresh.jpg && cp \(dir.path)/fresh.jpg \(mountpoint)/me/").status, 0)
        kill(second.processIdentifier, SIGKILL)
        second.waitUntilExit()
        let third = try mount(arguments)
        XCTAssertEqual(mounts(), mounted, "the dead drive cleared, mounted again")
        isTheView()
        XCTAssertEqual(sh("cmp \(dir.path)/photo.jpg \(mountpoint)/me/photo.jpg").status, 0)
        XCTAssertEqual(sh("cmp \(dir.path)/fresh.jpg \(mountpoint)/me/fresh.jpg").status, 0, "the file survived kill -9")
        let published = Date().addingTimeInterval(20)
        var listing = ""
        while Date() < published {
            listing = sh("\(CLITests.binary.path) ls --data-dir \(data)").out
            if listing.contains("fresh.jpg") { break }
            usleep(200_000)
        }
        XCTAssertTrue(listing.contains("fresh.jpg"), "published after the restart: \(listing)")
        third.terminate()
        third.waitUntilExit()
        XCTAssertEqual(third.terminationStatus, 0, "clean exit on SIGTERM")
        XCTAssertEqual(mounts(), [])
    }

    /// `peernet mount` takes the daemon's network options (issue 16 item 2): a private,
    /// offline mount without a configuration file.
    func testMountTakesTheNetworkOptions() throws {
        let p = try startPeernet(["mount", mountpoint, "--data-dir", data, "--listen", "127.0.0.1:0", "--no-root-peers", "--no-lan-discovery"],
                                 readyWhen: mountpoint + "/.peernet/identity", timeout: 20, log: dir.appendingPathComponent("net.log"))
        processes.append(p)
        let identity = (try? String(contentsOfFile: mountpoint + "/.peernet/identity", encoding: .utf8)) ?? ""
        XCTAssertTrue(identity.contains("listen: 127.0.0.1:"), identity)
        let config = sh("\(CLITests.binary.path) status --data-dir \(data) --json").out
        XCTAssertTrue(config.contains("127.0.0.1"), config)
        p.terminate()
        p.waitUntilExit()
        XCTAssertTrue(waitUnmounted())
    }

    static var repository: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// Waits until the mount is gone and its process has exited (it holds the data directory).
    func waitUnmounted(_ seconds: Double = 10) -> Bool {
        let until = Date().addingTimeInterval(seconds)
        // (/proc, not pgrep: procps is not in a minimal Debian.)
        func running() -> Bool {
            let target = mountpoint
            return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).contains { pid in
                guard Int(pid) != nil, let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
                let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                return args.count > 2 && args[0].hasSuffix("peernet") && args[1] == "mount" && args[2] == target
            }
        }
        while (isMounted() || running()) && Date() < until { usleep(50_000) }
        return !isMounted() && !running()
    }

    /// Mount/mount.peernet as mount(8) calls it: options parsed, the node in the background,
    /// back once the drive is up; unmounted with `peernet unmount`, and its log written.
    func testMountHelperMountsInTheBackground() throws {
        let helper = Self.repository.appendingPathComponent("Mount/mount.peernet").path
        let config = dir.appendingPathComponent("loopback.yaml").path
        let r = sh("PEERNET_BIN=\(CLITests.binary.path) \(helper) peernet \(mountpoint) -o noauto,_netdev,config=\(config),datadir=\(data) 2>&1")
        XCTAssertEqual(r.status, 0, r.out)
        XCTAssertTrue(isMounted(), "mounted when the helper returns: " + r.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: mountpoint + "/.peernet/identity"))
        XCTAssertEqual((try? FileManager.default.destinationOfSymbolicLink(atPath: mountpoint + "/me")), data + "/share", "me: a link to the share folder (the default view)")
        XCTAssertEqual(sh("\(CLITests.binary.path) status --data-dir \(data) --json").status, 0, "the CLI talks to the mounted node")
        XCTAssertEqual(sh("\(CLITests.binary.path) unmount \(mountpoint)").status, 0)
        XCTAssertTrue(waitUnmounted())
        let log = (try? String(contentsOfFile: data + "/peernet.log", encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("INFO [node] started"), log)
        XCTAssertTrue(log.contains("[mount] mounted at \(mountpoint)"), log)
        // share_view=bind: me/ bound onto the share folder, both released by peernet unmount.
        let bound = sh("PEERNET_BIN=\(CLITests.binary.path) \(helper) peernet \(mountpoint) -o config=\(config),datadir=\(data),share_view=bind 2>&1")
        XCTAssertEqual(bound.status, 0, bound.out)
        XCTAssertTrue(sh("grep -c ' \(mountpoint)/me ' /proc/mounts").out == "1\n", "me/ bound: " + sh("grep \(mountpoint) /proc/mounts").out)
        XCTAssertEqual(sh("\(CLITests.binary.path) unmount \(mountpoint)").status, 0)
        XCTAssertTrue(waitUnmounted())
        XCTAssertEqual(sh("grep -c ' \(mountpoint)' /proc/mounts").out, "0\n")
        // Bad usage is refused with a message.
        let bad = sh("\(helper) onlyone 2>&1")
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.out.contains("usage"), bad.out)
        // Through mount(8) itself, when the helper can be installed where mount looks (root, CI).
        let installed = "/sbin/mount.fuse.peernet"
        guard getuid() == 0, !FileManager.default.fileExists(atPath: installed),
              (try? FileManager.default.createSymbolicLink(atPath: installed, withDestinationPath: helper)) != nil else {
            print("notice: mount -t fuse.peernet not tried (needs root and no \(installed) yet); the helper itself was tested")
            return
        }
        defer { try? FileManager.default.removeItem(atPath: installed) }
        let viaMount = sh("PEERNET_BIN=\(CLITests.binary.path) mount -t fuse.peernet peernet \(mountpoint) -o config=\(config),datadir=\(data) 2>&1")
        XCTAssertEqual(viaMount.status, 0, viaMount.out)
        XCTAssertTrue(isMounted(), "mount -t fuse.peernet: " + viaMount.out)
        XCTAssertEqual(sh("umount \(mountpoint)").status, 0)
        XCTAssertTrue(waitUnmounted())
    }

    /// The systemd user unit is valid (systemd-analyze), with the binary path pointed at ours.
    func testSystemdUnitVerifies() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else { throw XCTSkip("no systemd-analyze") }
        let unit = try String(contentsOf: Self.repository.appendingPathComponent("Mount/peernet-mount.service"), encoding: .utf8)
        XCTAssertTrue(unit.contains("ExecStart=/usr/local/bin/peernet mount %h/Peernet"))
        let copy = dir.appendingPathComponent("peernet-mount.service")
        try unit.replacingOccurrences(of: "/usr/local/bin/peernet", with: CLITests.binary.path).write(to: copy, atomically: true, encoding: .utf8)
        let r = sh("systemd-analyze verify \(copy.path) 2>&1")
        XCTAssertEqual(r.status, 0, r.out)
    }
}
