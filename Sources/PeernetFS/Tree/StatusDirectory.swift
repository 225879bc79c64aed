/// .peernet/: the node's status as text files (see `StatusFile`).
struct StatusDirectory: FSDirectory {
    func entries(_ fs: PeernetFileSystem) throws -> [(String, FSNode)] {
        StatusFile.names.map { ($0, FSNode.statusFile($0)) }
    }
}
