/// search/<words>/: the results of searching the network for the words. Listing starts the
/// search and waits (bounded, interruptible) for the first results, off the FUSE thread.
struct SearchTermDirectory: FSDirectory {
    let term: String

    var waitsOnNetwork: Bool { true }

    func ready(_ fs: PeernetFileSystem) async throws { try await fs.awaitSearchResults(term) }

    func entries(_ fs: PeernetFileSystem) throws -> [(String, FSNode)] {
        fs.searchResults(term).map { e in
            // A folder found is a directory: the peer's folder of that name.
            if e.file.isVirtualFolder && e.owner != fs.me {
                let path = NameSanitizer.folderComponents(e.file.folder) + [NameSanitizer.component(e.file.name)]
                return (NameSanitizer.component(e.file.name), FSNode.peer(e.owner, path: path))
            }
            return (NameSanitizer.component(e.file.name), e.owner == fs.me ? FSNode.meFile(e.file.id) : FSNode.peerFile(e.owner, e.file.id))
        }
    }

    /// `user.peernet.search`: an empty listing looks the same whether the search still runs or
    /// found nothing.
    func xattrs(_ fs: PeernetFileSystem) -> [String: [UInt8]] { ["user.peernet.search": Array(fs.searchState(term).utf8)] }
}
