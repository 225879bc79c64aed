import Foundation
import PeernetExchange
import PeernetStore
import Synchronization

/// Running searches of the API (/search, /search/result, /search/terminate): each runs a
/// network search in a task and keeps its results; /search/result hands out those not
/// handed out yet.
final class APISearchJobs: Sendable {
    /// Searches kept at once (the reference's "max concurrent searches" status 2 past it).
    static let maxJobs = 64
    /// A finished search is kept this long for its results to be fetched.
    static let keepFinished: Double = 600

    final class Job: Sendable {
        struct State {
            var results: [SearchResult] = []
            var delivered = 0
            var finished = false
            var ended = Date.distantFuture
        }
        let state = Mutex(State())
        let task = Mutex<Task<Void, Never>?>(nil)
    }

    private let jobs = Mutex<[UUID: Job]>([:])

    /// Starts a search; nil when too many are running.
    func start(_ search: NetworkSearch, text: String, filter: SearchFilter, sort: SearchSort, limit: Int, timeout: Double) -> UUID? {
        let id = UUID()
        let job = Job()
        let now = Date()
        let admitted = jobs.withLock { all -> Bool in
            all = all.filter { !($0.value.state.withLock { $0.finished && now.timeIntervalSince($0.ended) > Self.keepFinished }) }
            guard all.count < Self.maxJobs else { return false }
            all[id] = job
            return true
        }
        guard admitted else { return nil }
        job.task.withLock {
            $0 = Task {
                let all = await search.search(text, filter: filter, sort: sort, limit: limit, timeout: timeout) { fresh in
                    job.state.withLock { $0.results += fresh }
                }
                job.state.withLock { s in
                    // The final ranking replaces the arrival order of what is not delivered yet.
                    let seen = Set(s.results.prefix(s.delivered).map { $0.entry.owner.hexString + $0.entry.file.id.uuidString })
                    s.results = Array(s.results.prefix(s.delivered)) + all.filter { !seen.contains($0.entry.owner.hexString + $0.entry.file.id.uuidString) }
                    s.finished = true
                    s.ended = Date()
                }
            }
        }
        return id
    }

    enum Batch { case results([SearchResult]), noMore, notFound, notYet }

    /// Up to `limit` results not handed out before.
    func next(_ id: UUID, limit: Int) -> Batch {
        guard let job = jobs.withLock({ $0[id] }) else { return .notFound }
        return job.state.withLock { s in
            let available = s.results.count - s.delivered
            if available == 0 { return s.finished ? .noMore : .notYet }
            let take = min(available, max(1, limit))
            let batch = Array(s.results[s.delivered..<(s.delivered + take)])
            s.delivered += take
            return .results(batch)
        }
    }

    /// Ends a search and forgets it; false if unknown.
    @discardableResult
    func terminate(_ id: UUID) -> Bool {
        guard let job = jobs.withLock({ $0.removeValue(forKey: id) }) else { return false }
        job.task.withLock { $0?.cancel() }
        return true
    }

    func stopAll() {
        for job in jobs.withLock({ j in defer { j = [:] }; return Array(j.values) }) { job.task.withLock { $0?.cancel() } }
    }
}
