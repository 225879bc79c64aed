/// search/: every name looked up here is a search of the network; the listing shows the
/// searches kept (see `PeernetFileSystem.searchLifetime`), rmdir forgets one.
struct SearchDirectory: FSDirectory {
    func entries(_ fs: PeernetFileSystem) throws -> [(String, FSNode)] {
        fs.expireSearches()
        return fs.tables.withLock { t in t.searchResults.keys.sorted().map { (NameSanitizer.component($0), FSNode.searchTerm($0)) } }
    }

    /// Any name is a query, except what file managers and shells probe for (.hidden,
    /// .directory, .git, and every name starting with a dot) and failed globs: those would
    /// each start a network search and stay listed.
    func child(_ name: String, _ fs: PeernetFileSystem) throws -> FSNode? {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("*"), !name.contains("?"), name != "autorun.inf",
              name != "Desktop.ini", name != "desktop.ini", name != "Thumbs.db" else { throw FSError.notFound }
        fs.tables.withLock { t in if t.searchResults[name] == nil { t.searchResults[name] = (.distantPast, [], false) } }
        return .searchTerm(name)
    }

    func remove(_ name: String, _ fs: PeernetFileSystem) throws { try fs.forgetSearch(name) }
}
