import PeernetProtocol
import Synchronization

/// Wakes readers waiting on a file's fetches. A generation counter per file closes the gap
/// between checking the state and starting to wait (a change in between returns at once), and
/// a cancelled waiter (a read that timed out) leaves immediately.
final class ProgressSignal: Sendable {
    private struct State {
        var generation: [Hash256: UInt64] = [:]
        var waiters: [Hash256: [UInt64: CheckedContinuation<Void, Never>]] = [:]
        var nextID: UInt64 = 0
        var cancelled: Set<UInt64> = []
    }
    private let state = Mutex(State())

    /// The current generation of `hash`: read it before checking the state you wait on.
    func generation(_ hash: Hash256) -> UInt64 { state.withLock { $0.generation[hash] ?? 0 } }

    /// Something changed for `hash`: wakes everyone waiting on it.
    func signal(_ hash: Hash256) {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.generation[hash, default: 0] &+= 1
            return Array((s.waiters.removeValue(forKey: hash) ?? [:]).values)
        }
        for c in woken { c.resume() }
    }

    /// Returns after the next change of `hash` since generation `seen`, or on cancellation.
    func wait(_ hash: Hash256, seen: UInt64) async {
        let id = state.withLock { s in defer { s.nextID &+= 1 }; return s.nextID }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.cancelled.remove(id) != nil || (s.generation[hash] ?? 0) != seen { return true }
                    s.waiters[hash, default: [:]][id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if let c = s.waiters[hash]?.removeValue(forKey: id) {
                    if s.waiters[hash]?.isEmpty == true { s.waiters[hash] = nil }
                    return c
                }
                s.cancelled.insert(id)
                return nil
            }
            c?.resume()
        }
        // A cancellation that raced a signal leaves a stale mark: clear it.
        _ = state.withLock { $0.cancelled.remove(id) }
    }
}
