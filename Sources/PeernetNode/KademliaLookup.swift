import PeernetProtocol

/// A contact in a lookup: its node ID plus whatever the transport needs to reach it.
public struct LookupContact<Address: Sendable>: Sendable {
    public let id: Hash256
    public let address: Address
    public init(id: Hash256, address: Address) {
        self.id = id
        self.address = address
    }
}

/// What one queried node answered.
public enum LookupReply<Address: Sendable>: Sendable {
    /// Contacts closer to the target; `value` when the node holds the searched value.
    case contacts([LookupContact<Address>], value: [UInt8]?)
    /// No answer in time (or an unusable one).
    case failed
}

/// The outcome of a lookup, with the figures the benchmarks report.
public struct LookupOutcome<Address: Sendable>: Sendable {
    /// The closest nodes that answered, closest first (at most k).
    public let closest: [LookupContact<Address>]
    public let value: [UInt8]?
    /// Queries sent and the deepest hop reached (seeds are hop 1).
    public let queries: Int
    public let hops: Int
    public let timedOut: Bool
}

enum LookupState { case fresh, querying, answered, failed }

struct LookupEntry<Address: Sendable> {
    let contact: LookupContact<Address>
    let distance: Hash256
    var state: LookupState
    let hop: Int
}

/// Iterative Kademlia lookup (node or value), independent of the transport so the node uses it
/// over UDP and the benchmark over an in-process simulation of thousands of nodes.
///
/// Candidates are kept sorted by XOR distance to the target. Up to `alpha` queries are in
/// flight at once, always to the closest not-yet-queried candidates among the k closest that
/// have not failed; the lookup ends when those k have all answered (or failed and been
/// replaced), when a value is found, or at the deadline. This fixes the reference's search,
/// which never re-sorts and so degenerates into an unordered breadth search.
public enum KademliaLookup {
    public static func run<Address: Sendable>(
        target: Hash256, seeds: [LookupContact<Address>], k: Int, alpha: Int, timeout: Double?,
        acceptValue: @escaping @Sendable ([UInt8]) -> Bool = { _ in true },
        query: @escaping @Sendable (LookupContact<Address>) async -> LookupReply<Address>
    ) async -> LookupOutcome<Address> {
        typealias Entry = LookupEntry<Address>
        var entries: [Entry] = []
        var known = Set<Hash256>()
        func add(_ c: LookupContact<Address>, hop: Int) {
            guard known.insert(c.id).inserted else { return }
            let e = Entry(contact: c, distance: c.id.distance(to: target), state: .fresh, hop: hop)
            let i = entries.firstIndex { e.distance < $0.distance } ?? entries.count
            entries.insert(e, at: i)
        }
        for s in seeds { add(s, hop: 1) }
        let deadline = timeout.map { monotonicNow() + $0 }
        var queries = 0, hops = 0, inFlight = 0
        var value: [UInt8]? = nil
        var timedOut = false

        await withTaskGroup(of: (Hash256, LookupReply<Address>).self) { group in
            /// Starts queries to the closest fresh candidates among the k closest live ones.
            func launch() {
                var considered = 0
                for i in entries.indices where entries[i].state != .failed {
                    considered += 1
                    if considered > k || inFlight >= alpha { break }
                    guard entries[i].state == .fresh else { continue }
                    entries[i].state = .querying
                    inFlight += 1
                    queries += 1
                    hops = max(hops, entries[i].hop)
                    let contact = entries[i].contact
                    group.addTask { (contact.id, await query(contact)) }
                }
            }
            launch()
            if let deadline {
                // A sentinel task ends the wait at the deadline even if queries hang.
                let remaining = max(0, deadline - monotonicNow())
                group.addTask {
                    try? await Task.sleep(for: .seconds(remaining))
                    return (Hash256.zero, .failed)
                }
            }
            while inFlight > 0, let (id, reply) = await group.next() {
                if id == .zero, deadline != nil, inFlight > 0, monotonicNow() >= deadline! {
                    timedOut = true
                    break
                }
                guard let i = entries.firstIndex(where: { $0.contact.id == id && $0.state == .querying }) else { continue }
                inFlight -= 1
                switch reply {
                case .failed:
                    entries[i].state = .failed
                case .contacts(let contacts, let found):
                    entries[i].state = .answered
                    if let found, acceptValue(found) { value = found }
                    let hop = entries[i].hop + 1
                    for c in contacts { add(c, hop: hop) }
                }
                if value != nil { break }
                launch()
            }
            group.cancelAll()
        }
        let closest = entries.filter { $0.state == .answered }.prefix(k).map(\.contact)
        return LookupOutcome(closest: Array(closest), value: value, queries: queries, hops: hops, timedOut: timedOut)
    }
}
