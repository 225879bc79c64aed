import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetStore
#if canImport(Glibc)
import Glibc
#endif

/// Writing into me/: files are staged in the data directory and published when closed (hash,
/// Merkle tree, warehouse, record — atomic; a crash mid-copy publishes nothing); mkdir makes a
/// virtual folder record, rm unshares, rename rewrites the record.
extension PeernetFileSystem {
    func mePath(_ n: FSNode) throws -> [String] {
        guard case .me(let path) = n else { throw FSError.readOnly }
        return path
    }

    /// Creates a staged file in a me/ folder (replacing an existing file of that name on close).
    public func create(in parent: FSNode, name: String) throws -> FSNode {
        let path = try mePath(parent)
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), name.utf8.count <= NameSanitizer.maxBytes else {
            throw FSError.invalid
        }
        let existing = try? lookup(parent, name)
        if let existing, existing.isDirectory { throw FSError.isDirectory }
        var replaces: TransferID? = nil
        if case .meFile(let id)? = existing { replaces = id }
        let id = tables.withLock { t in defer { t.nextStaged += 1 }; return t.nextStaged }
        let file = stagingDirectory.appendingPathComponent("\(getpid())-\(id)").path
        let fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FSError(errno: errno) }
        tables.withLock { t in
            t.staged[id] = Staged(path: file, folder: path, name: name, fd: fd, size: 0, replaces: replaces, writers: 1)
            t.names[parent]?[name] = .staged(id)
        }
        return .staged(id)
    }

    /// Opening an existing own file for writing: it is copied to staging first (rare; most
    /// writers create or truncate).
    public func openForWriting(_ n: FSNode, truncate: Bool) throws -> FSNode {
        if case .staged(let id) = n, tables.withLock({ $0.staged[id]?.publishing == true }) {
            // Being published (its last writer just closed): wait for the record, then open
            // that for writing like any published file.
            let deadline = Date().addingTimeInterval(60)
            while tables.withLock({ $0.staged[id] != nil }) && Date() < deadline { usleep(5_000) }
            guard let published = tables.withLock({ $0.published[id] }) else { throw FSError.io }
            return try openForWriting(published, truncate: truncate)
        }
        if case .staged(let id) = n {
            // Another writer of a file being written: it is published when the last one closes.
            guard tables.withLock({ t -> Bool in
                guard t.staged[id] != nil, t.staged[id]!.publishing == false else { return false }
                t.staged[id]!.writers += 1
                return true
            }) else { throw FSError.notPermitted }
            return n
        }
        guard case .meFile(let id) = n, let e = entry(n) else { throw FSError.readOnly }
        let folder = NameSanitizer.folderComponents(e.file.folder)
        let staged = try create(in: .me(path: folder), name: e.file.name)
        tables.withLock { $0.staged[stagedID(staged)]?.replaces = id }
        if !truncate {
            let fd = tables.withLock { $0.staged[stagedID(staged)]!.fd }
            var offset: UInt64 = 0
            while offset < e.file.size {
                let chunk = try store.warehouse.read(e.file.hash, offset: offset, length: 1 << 20)
                if chunk.isEmpty { break }
                _ = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
                offset += UInt64(chunk.count)
            }
            tables.withLock { $0.staged[stagedID(staged)]?.size = offset }
        }
        return staged
    }

    func stagedID(_ n: FSNode) -> UInt64 { if case .staged(let id) = n { return id }; return 0 }

    public func write(_ n: FSNode, offset: UInt64, data: UnsafeRawBufferPointer) throws -> Int {
        guard case .staged(let id) = n, let s = tables.withLock({ $0.staged[id] }) else { throw FSError.notPermitted }
        let written = pwrite(s.fd, data.baseAddress, data.count, off_t(offset))
        guard written >= 0 else { throw FSError(errno: errno) }
        tables.withLock { $0.staged[id]?.size = max(s.size, offset + UInt64(written)) }
        return written
    }

    public func truncate(_ n: FSNode, size: UInt64) throws {
        guard case .staged(let id) = n, let s = tables.withLock({ $0.staged[id] }) else { throw FSError.notPermitted }
        guard ftruncate(s.fd, off_t(size)) == 0 else { throw FSError(errno: errno) }
        tables.withLock { $0.staged[id]?.size = size }
    }

    /// Publishes a staged file when its last handle closes. The staged entry stays visible
    /// (name, size, content) until the record exists, because the kernel sends RELEASE after
    /// `close` has returned: a `cp` followed at once by `cat` must not see a gap.
    ///
    /// Only the last *writing* handle publishes, once: a reader (say `cmp` right after `cp`)
    /// closing the staged file must neither publish it early nor a second time.
    public func release(_ n: FSNode, wasWriter: Bool = true) throws {
        guard wasWriter, case .staged(let id) = n else { return }
        let claimed: Staged? = tables.withLock { t in
            guard var s = t.staged[id], !s.publishing else { return nil }
            s.writers -= 1
            if s.writers <= 0 { s.publishing = true }
            t.staged[id] = s
            return s.publishing ? s : nil
        }
        guard let s = claimed else { return }
        defer {
            tables.withLock { t in
                t.staged.removeValue(forKey: id)
                close(s.fd)
            }
            Glibc.unlink(s.path)
            invalidateListings()
        }
        let folder = s.folder.joined(separator: "/")
        let name = tables.withLock { $0.staged[id]?.name } ?? s.name
        let shared = try store.share([LocalStore.ShareRequest(path: s.path, name: name, folder: folder)])
        if let old = tables.withLock({ $0.staged[id]?.replaces }) ?? s.replaces {
            // Overwriting replaces the record: the old one goes in the same rewrite budget.
            try store.unshare(ids: [old])
        }
        if let record = shared.first {
            tables.withLock { t in
                t.published[id] = .meFile(record.id)
                // The replaced record's inode (still cached by the kernel) now stands for the new one.
                if let old = s.replaces ?? t.staged[id]?.replaces { t.replaced[old] = record.id }
            }
        }
        exchange.publishChainState()
        let search = self.search
        Task { await search.publish(shared) }
    }

    public func unlink(_ parent: FSNode, _ name: String) throws {
        _ = try mePath(parent)
        var n = try lookup(parent, name)
        // A staged file that has been published since stands for its record.
        if case .staged(let id) = n, let published = tables.withLock({ t in t.staged[id] == nil ? t.published[id] : nil }) { n = published }
        switch n {
        case .meFile(let id):
            let record = try? store.chain.file(id: id)
            try store.unshare(ids: [id])
            exchange.publishChainState()
            if let record { let search = self.search; Task { await search.withdraw([record]) } }
        case .staged(let id):
            if let s = tables.withLock({ $0.staged.removeValue(forKey: id) }) { close(s.fd); Glibc.unlink(s.path) }
        default:
            throw FSError.isDirectory
        }
        invalidateListings()
    }

    /// mkdir in me/: a virtual folder record (type 9, format 16), as the reference's clients do.
    public func mkdir(_ parent: FSNode, _ name: String) throws -> FSNode {
        let path = try mePath(parent)
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else { throw FSError.invalid }
        if (try? lookup(parent, name)) != nil { throw FSError.exists }
        let empty = Hash256.blake3([UInt8]())
        var tags = [FileTag(type: FileTag.name, text: name)]
        if !path.isEmpty { tags.append(FileTag(type: FileTag.folder, text: path.joined(separator: "/"))) }
        try store.chain.addFiles([FileRecord(hash: empty, id: .random(), merkleRoot: empty, fragmentSize: 262_144, type: 9, format: 16,
                                             size: 0, tags: tags)])
        exchange.publishChainState()
        invalidateListings()
        return .me(path: path + [name])
    }

    /// rmdir in me/: only empty folders (their virtual folder records are removed).
    public func rmdir(_ parent: FSNode, _ name: String) throws {
        let path = try mePath(parent)
        let target = try lookup(parent, name)
        guard case .me(let dirPath) = target else { throw FSError.notDirectory }
        guard try children(of: target).isEmpty else { throw FSError.notEmpty }
        let ids = try store.chain.files().filter { f in
            f.isVirtualFolder && NameSanitizer.folderComponents(f.folder) == path && NameSanitizer.component(f.name) == dirPath.last
        }.map(\.id)
        if !ids.isEmpty { try store.unshare(ids: Set(ids)) }
        exchange.publishChainState()
        invalidateListings()
    }

    /// rename/move inside me/: the record is rewritten with the new name and folder.
    public func rename(_ parent: FSNode, _ name: String, to newParent: FSNode, _ newName: String) throws {
        _ = try mePath(parent)
        let newPath = try mePath(newParent)
        guard !newName.isEmpty, !newName.contains("/"), newName != ".", newName != ".." else { throw FSError.invalid }
        var n = try lookup(parent, name)
        if case .staged(let id) = n, let published = tables.withLock({ t in t.staged[id] == nil ? t.published[id] : nil }) { n = published }
        switch n {
        case .meFile(let id):
            guard var file = try store.chain.file(id: id) else { throw FSError.notFound }
            if case .meFile(let other)? = try? lookup(newParent, newName), other != id { try store.unshare(ids: [other]) }
            file.tags.removeAll { $0.type == FileTag.name || $0.type == FileTag.folder || $0.isVirtual }
            file.tags.insert(FileTag(type: FileTag.name, text: newName), at: 0)
            if !newPath.isEmpty { file.tags.insert(FileTag(type: FileTag.folder, text: newPath.joined(separator: "/")), at: 1) }
            try store.chain.replaceFiles([file])
            exchange.publishChainState()
        case .staged(let id):
            tables.withLock { $0.staged[id]?.name = newName }
        default:
            throw FSError.notPermitted
        }
        invalidateListings()
    }

    /// Forgets computed listings; the generation stops a listing computed before this call from
    /// being stored after it (it could name a staged file that has been published since).
    func invalidateListings() {
        tables.withLock { t in
            t.names = [:]
            t.peerListings = [:]
            t.namesGeneration &+= 1
        }
    }
}
