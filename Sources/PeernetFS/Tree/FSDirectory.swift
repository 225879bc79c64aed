/// What one kind of directory outside me/ answers (me/ is the share folder itself: see
/// `ShareFolderInodes` and FuseMount+ShareFolder). One small type per kind, each answering
/// only what it supports, as in go-fuse's `fs` package; the defaults say "not here".
/// `FSNode` stays the inode's identity (the tables key on it); `FSNode.directory` is its
/// behaviour.
protocol FSDirectory: Sendable {
    /// The entries as the network names them (the tree sanitises names and makes them unique).
    func entries(_ fs: PeernetFileSystem) throws -> [(String, FSNode)]
    /// A child that exists without being listed (a search term, a content hash); nil: the
    /// listing decides.
    func child(_ name: String, _ fs: PeernetFileSystem) throws -> FSNode?
    /// rmdir of a child.
    func remove(_ name: String, _ fs: PeernetFileSystem) throws
    /// `user.peernet.*` attributes of the directory itself.
    func xattrs(_ fs: PeernetFileSystem) -> [String: [UInt8]]
    /// Listing may wait for the network: it is answered off the FUSE thread, after `ready`.
    var waitsOnNetwork: Bool { get }
    /// Waits until a listing is worth giving (bounded; throws CancellationError when its task
    /// is cancelled: the caller got a signal). Only for kinds that wait on the network.
    func ready(_ fs: PeernetFileSystem) async throws
    /// The listing stays valid until the owner's chain changes (see `chainChanged`).
    var keepsListing: Bool { get }
}

extension FSDirectory {
    func child(_ name: String, _ fs: PeernetFileSystem) throws -> FSNode? { nil }
    func remove(_ name: String, _ fs: PeernetFileSystem) throws { throw FSError.readOnly }
    func xattrs(_ fs: PeernetFileSystem) -> [String: [UInt8]] { [:] }
    var waitsOnNetwork: Bool { false }
    var keepsListing: Bool { false }
    func ready(_ fs: PeernetFileSystem) async throws {}
}

extension FSNode {
    /// The directory this node is (nil for files and for me/, which passes through).
    var directory: (any FSDirectory)? {
        switch self {
        case .root: return RootDirectory()
        case .peers: return PeersDirectory()
        case .peer(let owner, let path): return PeerFolder(owner: owner, path: path)
        case .search: return SearchDirectory()
        case .searchTerm(let term): return SearchTermDirectory(term: term)
        case .files: return FilesDirectory()
        case .status: return StatusDirectory()
        case .local, .meFile, .peerFile, .hashFile, .statusFile, .peerAlias, .shareLink: return nil
        }
    }
}
