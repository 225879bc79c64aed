import Foundation
import PeernetBlockchain
import PeernetExchange
import PeernetStore
import Synchronization

/// A search result as the CLI and the control channel show it.
public struct SearchHit: Codable, Sendable, Equatable {
    public let name: String
    public let folder: String
    public let size: UInt64
    public let type: String
    public let owner: String
    public let hash: String
    public let id: String
    public let dateShared: Int64?
    public let sharedBy: Int
    /// The owner is connected now; false = known from the cached chain only (offline).
    public let ownerOnline: Bool

    public init(_ r: SearchResult, online: Bool = true) {
        let f = r.entry.file
        name = f.name
        folder = f.folder
        size = f.size
        type = Int(f.type) < FileTypeDetection.typeNames.count ? FileTypeDetection.typeNames[Int(f.type)] : "type \(f.type)"
        owner = r.entry.owner.hexString
        hash = f.hash.hex
        id = f.id.uuidString
        dateShared = f.dateShared
        sharedBy = r.sharedBy
        ownerOnline = online
    }
}

/// Parsing of the CLI's filter and sort words.
public enum SearchOptions {
    public static let sorts: [String: SearchSort] = [
        "none": .none, "date": .dateAscending, "date-desc": .dateDescending, "name": .nameAscending,
        "name-desc": .nameDescending, "size": .sizeAscending, "size-desc": .sizeDescending,
        "shared": .sharedByAscending, "shared-desc": .sharedByDescending,
    ]

    public static func type(_ name: String) -> UInt8? {
        FileTypeDetection.typeNames.firstIndex(of: name.lowercased()).map(UInt8.init) ?? UInt8(name)
    }
}

/// Searches running in the node; the CLI polls them to print results as they arrive.
final class SearchJobs: Sendable {
    struct Job { var pending: [SearchHit] = []; var done = false }
    let jobs = Mutex<[String: Job]>([:])

    func start(_ search: NetworkSearch, online: @escaping @Sendable (SearchResult) -> Bool, term: String, filter: SearchFilter, sort: SearchSort, limit: Int, timeout: Double) -> String {
        let id = UUID().uuidString
        jobs.withLock { $0[id] = Job() }
        Task {
            await search.search(term, filter: filter, sort: sort, limit: limit, timeout: timeout) { [weak self] batch in
                self?.jobs.withLock { $0[id]?.pending += batch.map { SearchHit($0, online: online($0)) } }
            }
            self.jobs.withLock { $0[id]?.done = true }
            // Forget finished jobs nobody polls any more.
            try? await Task.sleep(for: .seconds(60))
            self.jobs.withLock { _ = $0.removeValue(forKey: id) }
        }
        return id
    }

    func poll(_ id: String) -> (hits: [SearchHit], done: Bool)? {
        jobs.withLock { j in
            guard var job = j[id] else { return nil }
            let hits = job.pending
            job.pending = []
            j[id] = job
            return (hits, job.done)
        }
    }
}
