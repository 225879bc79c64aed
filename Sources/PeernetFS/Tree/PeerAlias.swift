import Foundation
import PeernetCrypto

/// peers/<profile name>: a symbolic link to peers/<peer id>.
struct PeerAlias: FSFile {
    let owner: PublicKey

    var caching: FileCaching { .none }

    func attributes(_ fs: PeernetFileSystem) throws -> FSAttributes {
        var a = FSAttributes(size: UInt64(owner.hexString.utf8.count), isDirectory: false, modified: Int64(Date().timeIntervalSince1970))
        a.isSymlink = true
        return a
    }

    /// The kernel follows the link; reading it as a file is not a thing.
    func readData(_ fs: PeernetFileSystem, offset: UInt64, length: Int, open: OpenFile?) async throws -> PeernetFileSystem.ReadData {
        throw FSError.invalid
    }

    func linkTarget(_ fs: PeernetFileSystem) throws -> String { owner.hexString }
}
