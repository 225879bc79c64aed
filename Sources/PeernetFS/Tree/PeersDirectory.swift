import PeernetCrypto

/// peers/: a folder per peer whose chain is cached or that is connected now, and each peer's
/// profile name as a symbolic link to its folder.
struct PeersDirectory: FSDirectory {
    func entries(_ fs: PeernetFileSystem) throws -> [(String, FSNode)] {
        var owners = Set((try? fs.store.cache.owners()) ?? [])
        for p in fs.node.peers() where p.connected { if let k = try? PublicKey(hex: p.peerId) { owners.insert(k) } }
        let list = owners.map { ($0.hexString, FSNode.peer($0, path: [])) }.sorted { $0.0 < $1.0 }
        // The IDs come first, so a name can never take an ID's place; names that look like an
        // ID are not offered.
        var aliases: [(String, FSNode)] = []
        for owner in owners {
            guard let name = fs.profileName(owner), !name.isEmpty, (try? PublicKey(hex: name)) == nil else { continue }
            aliases.append((name, .peerAlias(owner)))
        }
        return list + aliases.sorted { $0.0 < $1.0 }
    }
}
