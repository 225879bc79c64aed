import ArgumentParser
import Foundation
import PeernetBlockchain
import PeernetService
import PeernetStore

func printHits(_ hits: [SearchHit]) {
    for h in hits {
        let size = ProgressBar.bytes(Double(h.size))
        let path = h.folder.isEmpty ? h.name : h.folder + "/" + h.name
        print("\(path)  \(size)  \(h.type)  owner \(h.owner.prefix(16))…\(h.ownerOnline ? "" : " (offline, from cache)")  \(h.hash)")
    }
}

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search the network for files (by words of their name, folder or description).",
        discussion: """
        Results print as they arrive: first what is already known locally, then what the \
        network's keyword index points to (the owners' chains are fetched and verified). Quote \
        the term for an exact name match. Without a running node only local data is searched.

        Matching: a word of 3 letters or more also matches as a prefix ("hol" finds "holiday") \
        among the chains your node has cached; a file extension matches ("mp4"); several words \
        narrow the result: files with every word are listed first, then files with some.

        Types: \(FileTypeDetection.typeNames.joined(separator: ", ")).
        Sorts: \(SearchOptions.sorts.keys.sorted().joined(separator: ", ")).

        Examples:
          peernet search holiday
          peernet search '"MyHolidayVideo.mp4"'
          peernet search concert --type video --sort size-desc --timeout 20
        """
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this file type.") var type: String?
    @Option(help: "Order of the results.") var sort = "none"
    @Option(help: "Seconds to wait for the network.") var timeout: Double = 10
    @Option(help: "At most this many results.") var limit = 200
    @Flag(help: "Print one JSON document with all results at the end.") var json = false
    @Argument(help: "Search words.") var words: [String]

    func validate() throws {
        if words.isEmpty { throw ValidationError("give a search term") }
        if let type, SearchOptions.type(type) == nil { throw ValidationError("unknown type '\(type)'") }
        if SearchOptions.sorts[sort] == nil { throw ValidationError("unknown sort '\(sort)'; use one of \(SearchOptions.sorts.keys.sorted().joined(separator: ", "))") }
        if timeout <= 0 || timeout > 600 { throw ValidationError("--timeout must be between 0 and 600 seconds") }
    }

    func run() async throws {
        let term = words.joined(separator: " ")
        var all: [SearchHit] = []
        let results: [SearchHit] = try global.withStore(direct: { store in
            Output.error("no running node: searching local data only (start one with 'peernet daemon')")
            var filter = SearchFilter()
            if let type { filter.type = SearchOptions.type(type) }
            return try store.catalog.search(SearchText.parseTerm(term), filter: filter, sort: SearchOptions.sorts[sort] ?? .none, limit: limit)
                .map { SearchHit($0, online: false) }
        }, viaNode: {
            var args = ["term": term, "sort": sort, "timeout": String(timeout), "limit": String(limit)]
            if let type { args["type"] = type }
            let job = try global.nodeCall([String: String].self, "search.start", args)["job"] ?? ""
            struct Poll: Decodable { let hits: [SearchHit]; let done: Bool }
            var collected: [SearchHit] = []
            let deadline = Date().addingTimeInterval(timeout + 5)
            while Date() < deadline {
                let p = try global.nodeCall(Poll.self, "search.poll", ["job": job])
                collected += p.hits
                if !json { printHits(p.hits) }
                if p.done { break }
                usleep(150_000)
            }
            return collected
        })
        all = results
        if json { try Output.json(all); return }
        if all.isEmpty { Output.error("no results for '\(term)'") }
    }
}

struct ExploreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explore",
        abstract: "Show recently shared files of known peers.",
        discussion: "Examples:\n  peernet explore\n  peernet explore --limit 200 --json"
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "At most this many files.") var limit = 50
    @Flag(help: "Print one JSON document.") var json = false

    func run() async throws {
        let hits: [SearchHit] = try global.withStore(direct: { try StoreActions.explore($0, limit: limit).map { SearchHit($0, online: false) } },
                                                     viaNode: { try global.nodeCall([SearchHit].self, "explore", ["limit": String(limit)]) })
        if json { try Output.json(hits); return }
        if hits.isEmpty { print("Nothing yet: peers' shares appear here once their blockchains are fetched.") }
        printHits(hits)
    }
}
