import Foundation
import PeernetExchange
import PeernetProtocol
import PeernetStore
import Synchronization

/// Downloads running in the node for `peernet get`, polled for progress.
final class DownloadJobs: Sendable {
    struct Job: Codable {
        var received: UInt64 = 0; var total: UInt64 = 0; var done = false; var error: String?; var output: String?
        /// No holder is known yet and the node is still looking (the CLI says so on a terminal).
        var searching = false
    }
    let jobs = Mutex<[String: Job]>([:])
    /// Polls waiting for their job to end (`poll(_:wait:)`), by job.
    private let waiters = Mutex<[String: [UInt64: CheckedContinuation<Void, Never>]]>([:])
    private let nextWaiter = Atomic<UInt64>(0)
    /// The longest a poll waits for its job to end before it answers with the progress.
    static let maxPollWait = 5.0

    /// Starts a download. A target nobody is known to hold yet is looked for up to `timeout`
    /// seconds: a reference holder never announces its hashes, so its new files are known only
    /// once its chain is fetched again (every 15 s).
    func start(_ downloader: FileDownloader, target text: String, output: String?, timeout: Double = 30) -> String {
        let id = UUID().uuidString
        jobs.withLock { $0[id] = Job() }
        Task {
            do {
                let store = downloader.exchange.store
                let deadline = Date().addingTimeInterval(max(0, min(timeout, 600)))
                var target: DownloadTarget?
                repeat {
                    if let hash = Hash256(hex: text) {
                        target = await downloader.target(forHash: hash)
                    } else if let fileID = TransferID(uuidString: text) {
                        for owner in try store.cache.owners() + [store.chain.owner] {
                            if let e = try store.catalog.file(owner: owner, id: fileID) { target = DownloadTarget(e.file, owner: e.owner); break }
                        }
                    } else {
                        break
                    }
                    if target != nil || Date() >= deadline { break }
                    jobs.withLock { $0[id]?.searching = true }
                    try await Task.sleep(for: .seconds(1))
                } while true
                jobs.withLock { $0[id]?.searching = false }
                guard let target else {
                    let waited = Int(max(0, min(timeout, 600)))
                    throw DownloadFailure.invalidTarget("'\(text)' is neither a known file ID nor the hash of content anyone announces"
                        + (waited > 0 ? " (looked for \(waited) s; try again later or raise --timeout)" : ""))
                }
                jobs.withLock { $0[id]?.total = target.size }
                if store.warehouse.contains(target.hash) {
                    // Our own content: nothing to download.
                    if let output, let source = store.warehouse.contentPath(target.hash) { try FileManager.default.copyItem(atPath: source, toPath: output) }
                } else {
                    let report: @Sendable (UInt64, UInt64) -> Void = { [weak self] done, total in
                        self?.jobs.withLock { $0[id]?.received = done; $0[id]?.total = total }
                    }
                    if let output {
                        try await downloader.download(target, to: output, progress: report)
                    } else {
                        try await downloader.download(target, progress: report)
                    }
                }
                jobs.withLock { $0[id]?.received = target.size; $0[id]?.done = true; $0[id]?.output = output }
            } catch {
                jobs.withLock { $0[id]?.error = "\(error)"; $0[id]?.done = true }
            }
            for w in waiters.withLock({ $0.removeValue(forKey: id) ?? [:] }).values { w.resume() }
        }
        return id
    }

    func poll(_ id: String) -> Job? { jobs.withLock { $0[id] } }

    /// The job's state once it has ended, or after `wait` seconds (at most `maxPollWait`) with
    /// its progress. `peernet get` polled every 150 ms, so every download took at least that
    /// long: 174 ms for a 1,000-byte file already in the cache.
    func poll(_ id: String, wait: Double) async -> Job? {
        guard wait > 0, let job = poll(id), !job.done else { return poll(id) }
        let token = nextWaiter.add(1, ordering: .relaxed).newValue
        let timer = Task { [weak self] in
            try? await Task.sleep(for: .seconds(min(wait, Self.maxPollWait)))
            self?.waiters.withLock { $0[id]?.removeValue(forKey: token) }?.resume()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            waiters.withLock { $0[id, default: [:]][token] = c }
            // Ended between the check above and now: the job's end took no waiter, so answer now.
            if poll(id)?.done != false { waiters.withLock { $0[id]?.removeValue(forKey: token) }?.resume() }
        }
        timer.cancel()
        waiters.withLock { if $0[id]?.isEmpty == true { $0[id] = nil } }
        return poll(id)
    }
}
