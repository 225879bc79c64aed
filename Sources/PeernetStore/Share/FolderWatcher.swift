import Foundation
import PeernetSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Logging

private let shareLog = Logger.peernet("share")

/// Tells when anything changes in a folder tree (inotify, one watch per directory), on a
/// thread of its own: edits made through the drive, by programs on the folder directly, or
/// while only the daemon runs all reach the publisher the same way. A lost event (queue
/// overflow, watches exhausted) is covered by the publisher's periodic scan.
final class FolderWatcher: @unchecked Sendable {
    private let fd: Int32
    private let stopped = Atomic(false)
    private var thread: Thread?
    private let onChange: @Sendable () -> Void
    private let exhaustedLogged = Atomic(false)

    init?(onChange: @escaping @Sendable () -> Void) {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.onChange = onChange
    }

    deinit { close(fd) }

    /// Watches one directory (idempotent; watches of removed directories go by themselves).
    func watch(_ path: [UInt8]) {
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB
                          | IN_DELETE_SELF | IN_MOVE_SELF)
        let wd = withCPath(path) { inotify_add_watch(fd, $0, mask) }
        if wd < 0 && errno == ENOSPC && !exhaustedLogged.exchange(true, ordering: .relaxed) {
            shareLog.warning("inotify watches exhausted (fs.inotify.max_user_watches); changes made outside the drive are picked up by the periodic scan")
        }
    }

    func start() {
        let t = Thread { [self] in run() }
        t.name = "peernet-watch"
        thread = t
        t.start()
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while !stopped.load(ordering: .relaxed) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 250)
            guard ready > 0 else { continue }
            var any = false
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                any = true
            }
            if any {
                onChange()
                // Coalesce: a burst (rm -r, cp -r) makes one event per file; waking for each
                // took CPU from the very burst on a 2-core machine.
                usleep(50_000)
            }
        }
    }
}
