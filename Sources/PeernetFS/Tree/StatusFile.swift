import Foundation

/// .peernet/<name>: a status text, made at each read (peers, transfers, publishing, …).
struct StatusFile: FSFile {
    let name: String

    static let names = ["identity", "peers", "transfers", "cache", "publishing", "searches"]

    var caching: FileCaching { .none }

    func attributes(_ fs: PeernetFileSystem) throws -> FSAttributes {
        FSAttributes(size: UInt64(text(fs).utf8.count), isDirectory: false, modified: Int64(Date().timeIntervalSince1970))
    }

    func readData(_ fs: PeernetFileSystem, offset: UInt64, length: Int, open: OpenFile?) async throws -> PeernetFileSystem.ReadData {
        let bytes = Array(text(fs).utf8)
        guard offset < UInt64(bytes.count) else { return .bytes([]) }
        return .bytes(Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + length)]))
    }

    func text(_ fs: PeernetFileSystem) -> String {
        switch name {
        case "identity":
            return "peer ID: \(fs.node.publicKey.hexString)\nnode ID: \(fs.node.nodeID.hex)\nlisten: \(fs.node.listenEndpoints.map(\.description).joined(separator: ", "))\n"
        case "peers":
            return fs.node.peers().map { "\($0.connected ? "connected" : "gone     ") \($0.peerId) \($0.userAgent)" }.joined(separator: "\n") + "\n"
        case "transfers":
            // Downloads (whoever started them: reads here, `peernet get`, the web API), then
            // the transfer sessions underneath, both ways.
            let downloads = fs.downloader.activityLines()
            let sessions = fs.exchange.transferSummaries()
            return (downloads.isEmpty ? ["no downloads yet"] : downloads).joined(separator: "\n")
                + "\n\nsessions (\(sessions.count)):\n" + sessions.map { "  \($0)" }.joined(separator: "\n") + (sessions.isEmpty ? "" : "\n")
        case "searches":
            let terms = fs.tables.withLock { $0.searchResults.keys.sorted() }
            return terms.map { "\($0): \(fs.searchState($0))" }.joined(separator: "\n") + (terms.isEmpty ? "" : "\n")
        case "publishing":
            let (pending, failed) = fs.publisher.backlog()
            let s = fs.publisher.lastSummary
            var lines = ["share folder: \(fs.publisher.folder.path)",
                         "published: \((try? fs.store.chain.files().count) ?? 0) files; last pass: \(s.added) new, \(s.replaced) changed, \(s.renamed) renamed, \(s.removed) withdrawn",
                         "pending: \(pending.count) (published once closed and unchanged for \(fs.publisher.options.settle) s)"]
            lines += pending.prefix(1000).map { "  \($0)" }
            lines.append("failed: \(failed.count)")
            lines += failed.prefix(1000).map { "  \($0.0): \($0.1)" }
            return lines.joined(separator: "\n") + "\n"
        case "cache":
            return "downloads: \(fs.store.downloads.totalBytes) bytes of \(fs.store.downloads.maxBytes)\nchains cached: \((try? fs.store.cache.owners().count) ?? 0)\n"
        default:
            return ""
        }
    }
}
