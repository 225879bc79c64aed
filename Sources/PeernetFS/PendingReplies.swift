import CFuse3
import Foundation
import Synchronization

/// Requests answered later, from a Swift task (reads, search listings), by number.
///
/// - **Interrupts.** A process blocked in a read request that reached the node cannot leave,
///   not even by SIGKILL, until the node answers. The kernel sends an INTERRUPT for a request
///   whose caller got a signal; libfuse calls the function registered for it, which cancels
///   the read's task, and the read answers EINTR. (The kernel does so for requests a caller
///   waits on: O_DIRECT reads here. Page-cache reads arrive as read-ahead, whose reader waits
///   on the page, which a fatal signal ends; the read-ahead request stays due.)
/// - **The end of the mount.** A reply after `fuse_session_destroy` writes through freed memory
///   (the session and its I/O functions). Reads still waiting when a mount stops (a reader
///   killed while a holder was silent leaves its read-ahead request behind) answered seconds
///   later and crashed the process in libfuse: this is what made the first interrupt handler
///   (f3b85fc) crash, since its tests stopped mounts with such reads outstanding. The mount's
///   end now cancels what is pending and waits for the replies before freeing the session.
///
/// Registrations carry a number, not a pointer: libfuse may call the interrupt function just
/// after the request was answered (it reads it under its lock but calls it outside), and the
/// number then finds nothing instead of freed memory.
final class PendingReplies: Sendable {
    private struct Entry {
        let owner: ObjectIdentifier
        var task: Task<Void, Never>?
        var cancelled = false
    }
    /// Every mount's replies due, by number: one table, since the C interrupt function gets
    /// only the number.
    private static let due = Mutex<[UInt64: Entry]>([:])
    private static let numbers = Atomic<UInt64>(1)

    /// This mount's replies still due.
    var count: Int { Self.due.withLock { d in d.values.count { $0.owner == ObjectIdentifier(self) } } }

    /// Answers `req` from `body` in a detached task, cancelled if the kernel interrupts the
    /// request or the mount ends. `body` must answer the request (EINTR when cancelled).
    func start(_ req: fuse_req_t?, _ body: @escaping @Sendable () async -> Void) {
        let number = Self.numbers.add(1, ordering: .relaxed).newValue
        Self.due.withLock { $0[number] = Entry(owner: ObjectIdentifier(self)) }
        // Registered before the task starts: once the task has answered, the request is freed,
        // and registering then would write to freed memory. (Called at once if the request was
        // interrupted already; the task is then cancelled as soon as it exists.)
        fuse_req_interrupt_func(req, { _, data in
            PendingReplies.cancel(UInt64(UInt(bitPattern: data)))
        }, UnsafeMutableRawPointer(bitPattern: UInt(number)))
        let task = Task.detached {
            await body()
            _ = Self.due.withLock { $0.removeValue(forKey: number) }
        }
        let cancelNow = Self.due.withLock { d -> Bool in
            guard d[number] != nil else { return false }
            d[number]!.task = task
            return d[number]!.cancelled
        }
        if cancelNow { task.cancel() }
    }

    /// Cancels reply `number`'s task (nothing if it was answered already).
    static func cancel(_ number: UInt64) {
        let task = due.withLock { d -> Task<Void, Never>? in
            guard d[number] != nil else { return nil }
            d[number]!.cancelled = true
            return d[number]!.task
        }
        task?.cancel()
    }

    /// The mount ends: cancels every pending reply and waits (at most `timeout` seconds) until
    /// all were answered. False: some are still due, and the session must not be freed.
    /// (Polled: this runs once per mount, and the read path stays free of wake-ups.)
    func cancelAllAndWait(timeout: Double) -> Bool {
        let mine = Self.due.withLock { d in d.filter { $0.value.owner == ObjectIdentifier(self) }.map(\.key) }
        for number in mine { Self.cancel(number) }
        let deadline = Date().addingTimeInterval(timeout)
        while count > 0 {
            if Date() >= deadline { return false }
            usleep(10_000)
        }
        return true
    }
}
