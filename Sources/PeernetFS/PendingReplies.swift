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
        var task: Task<Void, Never>?
        var cancelled = false
    }
    private struct State {
        var next: UInt64 = 1
        var open: [UInt64: Entry] = [:]
    }
    private let state = Mutex(State())
    private let drained = NSCondition()

    /// All instances' open numbers, for the C interrupt function (it gets only the number).
    private static let owners = Mutex<[UInt64: PendingReplies]>([:])
    private static let numbers = Atomic<UInt64>(1)

    /// Replies still due.
    var count: Int { state.withLock { $0.open.count } }

    /// Answers `req` from `body` in a detached task, cancelled if the kernel interrupts the
    /// request or the mount ends. `body` must answer the request (EINTR when cancelled).
    func start(_ req: fuse_req_t?, _ body: @escaping @Sendable () async -> Void) {
        let number = begin()
        // Registered before the task starts: once the task has answered, the request is freed,
        // and registering then would write to freed memory. (Called at once if the request was
        // interrupted already; the task is then cancelled as soon as it exists.)
        fuse_req_interrupt_func(req, { _, data in
            PendingReplies.interrupted(UInt64(UInt(bitPattern: data)))
        }, UnsafeMutableRawPointer(bitPattern: UInt(number)))
        let task = Task.detached { [self] in
            await body()
            end(number)
        }
        let cancelNow = state.withLock { s -> Bool in
            guard s.open[number] != nil else { return false }
            s.open[number]!.task = task
            return s.open[number]!.cancelled
        }
        if cancelNow { task.cancel() }
    }

    /// A reply is due: numbered, until `end`.
    private func begin() -> UInt64 {
        let number = Self.numbers.add(1, ordering: .relaxed).newValue
        state.withLock { $0.open[number] = Entry() }
        Self.owners.withLock { $0[number] = self }
        return number
    }

    private func end(_ number: UInt64) {
        state.withLock { _ = $0.open.removeValue(forKey: number) }
        _ = Self.owners.withLock { $0.removeValue(forKey: number) }
        drained.lock()
        drained.broadcast()
        drained.unlock()
    }

    static func interrupted(_ number: UInt64) {
        guard let owner = owners.withLock({ $0[number] }) else { return }  // answered already
        owner.cancel(number)
    }

    private func cancel(_ number: UInt64) {
        let task = state.withLock { s -> Task<Void, Never>? in
            guard s.open[number] != nil else { return nil }
            s.open[number]!.cancelled = true
            return s.open[number]!.task
        }
        task?.cancel()
    }

    /// The mount ends: cancels every pending reply and waits (at most `timeout` seconds) until
    /// all were answered. False: some are still due, and the session must not be freed.
    func cancelAllAndWait(timeout: Double) -> Bool {
        for number in state.withLock({ Array($0.open.keys) }) { cancel(number) }
        let deadline = Date().addingTimeInterval(timeout)
        drained.lock()
        defer { drained.unlock() }
        while count > 0 {
            if !drained.wait(until: deadline) { return count == 0 }
        }
        return true
    }
}
