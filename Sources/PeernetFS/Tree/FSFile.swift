/// What one kind of file outside me/ answers: its attributes, its data, its `user.peernet.*`
/// attributes, and how the kernel may cache it. One small type per kind (see `FSDirectory`).
protocol FSFile: Sendable {
    func attributes(_ fs: PeernetFileSystem) throws -> FSAttributes
    /// `open`: the open file reading (its read cursor, what it resolved); nil for reads
    /// outside an open file.
    func readData(_ fs: PeernetFileSystem, offset: UInt64, length: Int, open: OpenFile?) async throws -> PeernetFileSystem.ReadData
    func xattrs(_ fs: PeernetFileSystem) -> [String: [UInt8]]
    /// The target of a symbolic link.
    func linkTarget(_ fs: PeernetFileSystem) throws -> String
    /// How long the kernel may keep its attributes and entry (seconds).
    var cacheTime: Double { get }
    var caching: FileCaching { get }
    /// The file as an open file reads it (resolved once, at open).
    func opened(_ fs: PeernetFileSystem) throws -> any FSFile
}

/// How the kernel may cache a file's pages.
enum FileCaching {
    /// Kept across opens: content under a hash never changes (`keep_cache`).
    case keep
    /// Never cached: generated at each read, its size is not known beforehand (`direct_io`).
    case none
}

extension FSFile {
    func xattrs(_ fs: PeernetFileSystem) -> [String: [UInt8]] { [:] }
    func linkTarget(_ fs: PeernetFileSystem) throws -> String { throw FSError.invalid }
    var cacheTime: Double { 1 }
    func opened(_ fs: PeernetFileSystem) throws -> any FSFile { self }
}

extension FSNode {
    /// The file this node is (nil for directories and for me/, which passes through).
    var file: (any FSFile)? {
        switch self {
        case .meFile(let id): return PublishedFile(owner: nil, id: id)
        case .peerFile(let owner, let id): return PublishedFile(owner: owner, id: id)
        case .hashFile(let hash): return ContentFile(hash: hash)
        case .statusFile(let name): return StatusFile(name: name)
        case .peerAlias(let owner): return PeerAlias(owner: owner)
        case .shareLink: return ShareLink()
        case .root, .local, .peers, .peer, .search, .searchTerm, .files, .status: return nil
        }
    }
}
