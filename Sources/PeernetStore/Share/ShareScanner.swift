import Foundation
import PeernetSupport
#if canImport(Glibc)
import Glibc
#endif

/// Walks the share folder: every regular file that is not ignored, with its signature and
/// change time. Symbolic links are never followed (a link to /etc must not publish /etc), and
/// fifos, sockets and devices are skipped. Bounded in depth and entries.
struct ShareScanner {
    static let maxDepth = 64
    static let maxEntries = 2_000_000

    struct Found {
        let signature: FileSignature
        /// Last change of content or metadata (ns since the epoch): a file settles after it.
        let changedNs: Int64
        /// The inode's change time (chmod, rename and writes set it; nothing can set it back).
        let ctimeNs: Int64
    }

    struct Result {
        var files: [SharePath: Found] = [:]
        /// The rules in force, with every .peernetignore found.
        var ignore = ShareIgnore.defaults
        var directories: [SharePath] = []
        /// Temp files of `peernet share` copies (`.peernet-share-<pid>-<n>`).
        var leftovers: [SharePath] = []
        var truncated = false
    }

    let root: [UInt8]

    /// Scans the whole folder. `onDirectory` is called with each directory's full path before it
    /// is listed (the watcher adds its watch there, so nothing created later is missed).
    func scan(onDirectory: ([UInt8]) -> Void = { _ in }) -> Result {
        var result = Result()
        var entries = 0
        walk(SharePath.root, depth: 0, result: &result, entries: &entries, onDirectory: onDirectory)
        return result
    }

    private func walk(_ dir: SharePath, depth: Int, result: inout Result, entries: inout Int, onDirectory: ([UInt8]) -> Void) {
        guard depth < Self.maxDepth else { result.truncated = true; return }
        let full = dir.bytes.isEmpty ? root : root + [UInt8(ascii: "/")] + dir.bytes
        onDirectory(full)
        let fd = withCPath(full) { open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0, let handle = fdopendir(fd) else {
            if fd >= 0 { close(fd) }
            return
        }
        defer { closedir(handle) }
        var names: [[UInt8]] = []
        while let entry = readdir(handle) {
            let name = directoryEntryName(entry)
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            names.append(name)
        }
        // Rules of this folder first: they apply to its own entries.
        if names.contains(Array(".peernetignore".utf8)) {
            let text = readSmallFile(dirfd(handle), ".peernetignore")
            result.ignore.add(file: text, base: dir.textComponents)
        }
        for name in names {
            entries += 1
            guard entries <= Self.maxEntries else { result.truncated = true; return }
            var st = stat()
            guard withCPath(name, { fstatat(dirfd(handle), $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { continue }
            let path = dir.appending(name)
            let type = st.st_mode & S_IFMT
            let isDirectory = type == S_IFDIR
            guard isDirectory || type == S_IFREG else { continue }
            if !isDirectory && name.starts(with: Array(".peernet-share-".utf8)) { result.leftovers.append(path) }
            if result.ignore.isIgnored(path.textComponents, isDirectory: isDirectory) { continue }
            if isDirectory {
                result.directories.append(path)
                walk(path, depth: depth + 1, result: &result, entries: &entries, onDirectory: onDirectory)
            } else {
                let ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
                let changed = max(Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec), ctime)
                result.files[path] = Found(signature: FileSignature(st), changedNs: changed, ctimeNs: ctime)
            }
        }
    }

    /// An ignore file's text (the first 64 KiB: rules, not data).
    private func readSmallFile(_ dirfd: Int32, _ name: String) -> String {
        let fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : ""
    }
}
