import Foundation
import PeernetExchange
import PeernetProtocol

/// files/<hash>: any content by its BLAKE3 hash, from the warehouse, the download cache, or
/// whichever peer holds it.
struct ContentFile: FSFile {
    let hash: Hash256

    var cacheTime: Double { 60 }
    var caching: FileCaching { .keep }

    func attributes(_ fs: PeernetFileSystem) throws -> FSAttributes {
        let now = Int64(Date().timeIntervalSince1970)
        if let size = fs.store.warehouse.size(of: hash) { return FSAttributes(size: size, isDirectory: false, modified: now) }
        if let e = try? fs.store.catalog.files(withHash: hash).first { return FSAttributes(size: e.file.size, isDirectory: false, modified: e.file.dateShared ?? now) }
        if let e = try? fs.store.downloads.entry(hash, includeTree: false) { return FSAttributes(size: e.size, isDirectory: false, modified: now) }
        throw FSError.notFound
    }

    /// The target is found once per open file, at its first read that needs it: for content
    /// in no catalog that is a search of the network for its holders, and it was made at every
    /// read (a thousand per GiB).
    func readData(_ fs: PeernetFileSystem, offset: UInt64, length: Int, open: OpenFile?) async throws -> PeernetFileSystem.ReadData {
        if let local = fs.localRegion(hash, offset: offset, length: length) { return local }
        let target: DownloadTarget
        if let known = open?.target.withLock({ $0 }) {
            target = known
        } else {
            guard let found = await fs.downloader.target(forHash: hash) else { throw FSError.notFound }
            open?.target.withLock { $0 = found }
            target = found
        }
        return try await fs.remoteRegion(target, offset: offset, length: length, cursor: open?.cursor)
    }

    func xattrs(_ fs: PeernetFileSystem) -> [String: [UInt8]] { ["user.peernet.hash": Array(hash.hex.utf8)] }
}
