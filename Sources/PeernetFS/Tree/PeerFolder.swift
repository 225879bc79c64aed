import PeernetCrypto
import PeernetStore

/// peers/<id>/ and its subfolders: a peer's shared files at `path`, from its cached chain.
/// The listing is kept until the chain changes: listing a 10,000-file folder again (every
/// `ls`) would decode, sort and sanitise it all again.
struct PeerFolder: FSDirectory {
    let owner: PublicKey
    let path: [String]

    var keepsListing: Bool { true }

    func entries(_ fs: PeernetFileSystem) throws -> [(String, FSNode)] {
        Self.listing((try? fs.store.catalog.files(owner: owner)) ?? [], path: path, owner: owner)
    }

    /// Subfolders and files at `path` of a set of files (folders from the folder tag; virtual
    /// folder records make empty folders).
    static func listing(_ files: [CatalogEntry], path: [String], owner: PublicKey) -> [(String, FSNode)] {
        var folders = Set<String>()
        var list: [(String, FSNode)] = []
        for e in files {
            var components = NameSanitizer.folderComponents(e.file.folder)
            if e.file.isVirtualFolder { components.append(NameSanitizer.component(e.file.name)) }
            guard components.count >= path.count, Array(components.prefix(path.count)) == path else { continue }
            if components.count > path.count {
                folders.insert(components[path.count])
            } else if !e.file.isVirtualFolder {
                list.append((e.file.name, .peerFile(owner, e.file.id)))
            }
        }
        let dirs = folders.sorted().map { name -> (String, FSNode) in (name, .peer(owner, path: path + [name])) }
        return dirs + list.sorted { $0.0 < $1.0 }
    }
}
