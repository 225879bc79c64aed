import CFuse3
import Synchronization

/// Interrupted reads. A process blocked in a read that reached the node cannot leave, not even
/// by SIGKILL, until the node answers (the kernel waits for a request already sent): Ctrl-C on
/// `cat` of a file whose holder went quiet waited for the whole read timeout. The kernel sends
/// an INTERRUPT for a request whose caller got a signal; libfuse calls the function registered
/// for that request, which cancels the read's task, and the read is answered with EINTR.
///
/// The registration carries a number, not a pointer: libfuse may call the function just after
/// the request was answered (it reads it under its lock but calls it outside), so the number
/// finds nothing then instead of freed memory.
final class InterruptibleRead: Sendable {
    private struct State {
        var task: Task<Void, Never>?
        var cancelled = false
    }
    private let state = Mutex(State())

    /// Reads waiting now, by number (what the interrupt function receives).
    private static let waiting = Mutex<[UInt64: InterruptibleRead]>([:])
    private static let nextNumber = Atomic<UInt64>(0)

    /// Reads of the node's tasks running now (tests: none is left behind).
    static var running: Int { waiting.withLock { $0.count } }

    /// Runs `body` as the answer to `req`, cancelled if the kernel interrupts the request.
    /// `body` must answer the request (EINTR when cancelled).
    static func start(_ req: fuse_req_t?, _ body: @escaping @Sendable () async -> Void) {
        let read = InterruptibleRead()
        let number = nextNumber.add(1, ordering: .relaxed).newValue
        waiting.withLock { $0[number] = read }
        // Registered before the task starts: once the task has answered, the request is freed,
        // and registering then would write to freed memory. (Called at once if the request was
        // interrupted already; the task is then cancelled as soon as it exists.)
        fuse_req_interrupt_func(req, { _, data in
            InterruptibleRead.interrupted(UInt64(UInt(bitPattern: data)))
        }, UnsafeMutableRawPointer(bitPattern: UInt(number)))
        let task = Task.detached {
            await body()
            _ = waiting.withLock { $0.removeValue(forKey: number) }
        }
        let cancelNow = read.state.withLock { s -> Bool in
            s.task = task
            return s.cancelled
        }
        if cancelNow { task.cancel() }
    }

    static func interrupted(_ number: UInt64) {
        guard let read = waiting.withLock({ $0[number] }) else { return }  // answered already
        let task = read.state.withLock { s -> Task<Void, Never>? in
            s.cancelled = true
            return s.task
        }
        task?.cancel()
    }
}
