import Dispatch

/// Runs the download cache's commits (an fdatasync of the file, then the verified marks) one
/// after another on a thread of their own, off the transfer's receive path. Committed in the
/// receive callback, each fdatasync (~4.7 ms, every 16 fragments) stopped the node's receive
/// thread with it: no ACK left, the holder's window filled, and the fast path stalled.
/// Order is kept: a batch is marked only after every fragment in it was written, and `drain`
/// returns once everything submitted before it is durable.
final class CommitQueue: Sendable {
    private let queue = DispatchQueue(label: "peernet.download.commits")

    /// Queues `work` behind every commit submitted before.
    func submit(_ work: @escaping @Sendable () -> Void) { queue.async(execute: work) }

    /// Returns when everything submitted before this call has run.
    func drain() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in queue.async { c.resume() } }
    }
}
