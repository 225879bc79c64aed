/// The top of the mount: me/, peers/, search/, files/ and .peernet/.
struct RootDirectory: FSDirectory {
    func entries(_ fs: PeernetFileSystem) throws -> [(String, FSNode)] {
        [("me", fs.isShareLinked ? .shareLink : .local(fs.share.rootKey)), ("peers", .peers), ("search", .search), ("files", .files), (".peernet", .status)]
    }
}
