import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetProtocol
import PeernetStore

/// A file of a peer's chain (peers/<id>/…, search results), or one of our own where it shows
/// outside me/ (search results; `owner` nil). Its content never changes: a new version is a
/// new record.
struct PublishedFile: FSFile {
    /// nil: our own file.
    let owner: PublicKey?
    let id: TransferID
    /// The entry as found when the file was opened (see `opened`).
    var resolved: CatalogEntry? = nil

    var cacheTime: Double { 60 }
    var caching: FileCaching { .keep }

    /// The catalog entry behind the file.
    func entry(_ fs: PeernetFileSystem) -> CatalogEntry? {
        resolved ?? (try? fs.store.catalog.file(owner: owner ?? fs.me, id: id))
    }

    /// Resolved once: reads of the open file look nothing up, and it stays readable when the
    /// peer withdraws it meanwhile (as an open file on a disk outlives its name), from the
    /// download cache or any holder left.
    func opened(_ fs: PeernetFileSystem) throws -> any FSFile {
        guard let e = entry(fs) else { throw FSError.notFound }
        var file = self
        file.resolved = e
        return file
    }

    func attributes(_ fs: PeernetFileSystem) throws -> FSAttributes {
        guard let e = entry(fs) else { throw FSError.notFound }
        return FSAttributes(size: e.file.size, isDirectory: false, modified: e.file.dateShared ?? Int64(Date().timeIntervalSince1970))
    }

    /// Own content from the warehouse; remote content through the download cache.
    func readData(_ fs: PeernetFileSystem, offset: UInt64, length: Int, open: OpenFile?) async throws -> PeernetFileSystem.ReadData {
        guard let e = entry(fs) else { throw FSError.notFound }
        if let local = fs.localRegion(e.file.hash, offset: offset, length: length) { return local }
        return try await fs.remoteRegion(DownloadTarget(e.file, owner: e.owner), offset: offset, length: length, cursor: open?.cursor)
    }

    func xattrs(_ fs: PeernetFileSystem) -> [String: [UInt8]] {
        guard let e = entry(fs) else { return [:] }
        var out: [String: [UInt8]] = [
            "user.peernet.hash": Array(e.file.hash.hex.utf8),
            "user.peernet.owner": Array(e.owner.hexString.utf8),
            "user.peernet.id": Array(e.file.id.uuidString.utf8),
            "user.peernet.type": Array((Int(e.file.type) < FileTypeDetection.typeNames.count ? FileTypeDetection.typeNames[Int(e.file.type)] : "\(e.file.type)").utf8),
            "user.peernet.format": Array(String(e.file.format).utf8),
            "user.peernet.name": e.file.tag(FileTag.name)?.data ?? [],
        ]
        if let d = e.file.dateShared {
            out["user.peernet.shared"] = Array(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(d))).utf8)
        }
        return out
    }
}
