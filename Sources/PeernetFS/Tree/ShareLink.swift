import Foundation

/// me, as a symbolic link to the share folder (`ShareView.link`): the kernel follows it, so
/// programs in me/ work in the local folder itself and nothing of what they do reaches the node.
/// The target never changes while the drive is mounted, so the kernel may keep the entry and the
/// link's text for as long as it likes (the mount asks it to cache symbolic links).
struct ShareLink: FSFile {
    var caching: FileCaching { .none }
    var cacheTime: Double { 86_400 }

    func attributes(_ fs: PeernetFileSystem) throws -> FSAttributes {
        var a = FSAttributes(size: UInt64(fs.publisher.folder.path.utf8.count), isDirectory: false, modified: fs.startTime)
        a.isSymlink = true
        return a
    }

    func readData(_ fs: PeernetFileSystem, offset: UInt64, length: Int, open: OpenFile?) async throws -> PeernetFileSystem.ReadData {
        throw FSError.invalid
    }

    func linkTarget(_ fs: PeernetFileSystem) throws -> String { fs.publisher.folder.path }
}
