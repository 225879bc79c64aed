import Foundation
import PeernetStore
import Synchronization

/// Searches that run in the node while a client polls for their results: the control
/// channel's (`peernet search`) and the web API's (/search, /search/result). Each runs a
/// network search in a task and keeps what it found; a poll hands out what was not handed
/// out before. Once a search ends, what is still undelivered follows in rank order.
public final class SearchJobs: Sendable {
    /// Searches kept at once; past it `start` refuses (the API's "max concurrent searches").
    public static let maxJobs = 64
    /// A finished search is kept this long for its results to be fetched.
    public static let keepFinished: Double = 600

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

    private let search: NetworkSearch
    private let jobs = Mutex<[UUID: Job]>([:])

    public init(search: NetworkSearch) { self.search = search }

    /// Starts a search; nil when `maxJobs` are kept already.
    public func start(_ text: String, filter: SearchFilter, sort: SearchSort, limit: Int, timeout: Double) -> UUID? {
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
        let search = self.search
        job.task.withLock {
            $0 = Task {
                let all = await search.search(text, filter: filter, sort: sort, limit: limit, timeout: timeout) { fresh in
                    job.state.withLock { $0.results += fresh }
                }
                job.state.withLock { s in
                    // The final ranking replaces the arrival order of what is not delivered yet.
                    func key(_ r: SearchResult) -> String { r.entry.owner.hexString + r.entry.file.id.uuidString }
                    let seen = Set(s.results.prefix(s.delivered).map(key))
                    s.results = Array(s.results.prefix(s.delivered)) + all.filter { !seen.contains(key($0)) }
                    s.finished = true
                    s.ended = Date()
                }
            }
        }
        return id
    }

    /// Up to `limit` results not handed out before, and whether the search has ended with
    /// nothing left to hand out; nil for an unknown (or forgotten) search.
    public func next(_ id: UUID, limit: Int = .max) -> (results: [SearchResult], finished: Bool)? {
        guard let job = jobs.withLock({ $0[id] }) else { return nil }
        return job.state.withLock { s in
            let take = min(s.results.count - s.delivered, max(1, limit))
            let batch = Array(s.results[s.delivered..<(s.delivered + take)])
            s.delivered += take
            return (batch, s.finished && s.delivered == s.results.count)
        }
    }

    /// Whether a search with this ID is known.
    public func exists(_ id: UUID) -> Bool { jobs.withLock { $0[id] != nil } }

    /// Every result so far (handed out or not) and whether the search has ended; nil for an
    /// unknown search. For statistics over all results.
    public func all(_ id: UUID) -> (results: [SearchResult], ended: Bool)? {
        guard let job = jobs.withLock({ $0[id] }) else { return nil }
        return job.state.withLock { ($0.results, $0.finished) }
    }

    /// Ends a search and forgets it; false if unknown.
    @discardableResult
    public func terminate(_ id: UUID) -> Bool {
        guard let job = jobs.withLock({ $0.removeValue(forKey: id) }) else { return false }
        job.task.withLock { $0?.cancel() }
        return true
    }

    public func stopAll() {
        for job in jobs.withLock({ j in defer { j = [:] }; return Array(j.values) }) { job.task.withLock { $0?.cancel() } }
    }
}
