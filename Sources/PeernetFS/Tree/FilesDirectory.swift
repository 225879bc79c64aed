import PeernetProtocol

/// files/: any file by its BLAKE3 hash (files/<hash>); nothing is listed.
struct FilesDirectory: FSDirectory {
    func entries(_ fs: PeernetFileSystem) throws -> [(String, FSNode)] { [] }

    func child(_ name: String, _ fs: PeernetFileSystem) throws -> FSNode? {
        guard let hash = Hash256(hex: name) else { throw FSError.notFound }
        return .hashFile(hash)
    }
}
