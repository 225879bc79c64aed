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

    func readData(_ fs: PeernetFileSystem, offset: UInt64, length: Int, cursor: ReadCursor?) async throws -> PeernetFileSystem.ReadData {
        if let local = fs.localRegion(hash, offset: offset, length: length) { return local }
        guard let target = await fs.downloader.target(forHash: hash) else { throw FSError.notFound }
        return try await fs.remoteRegion(target, offset: offset, length: length, cursor: cursor)
    }

    func xattrs(_ fs: PeernetFileSystem) -> [String: [UInt8]] { ["user.peernet.hash": Array(hash.hex.utf8)] }
}
