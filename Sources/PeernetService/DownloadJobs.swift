import Foundation
import PeernetExchange
import PeernetProtocol
import PeernetStore
import Synchronization

/// Downloads running in the node for `peernet get`, polled for progress.
final class DownloadJobs: Sendable {
    struct Job: Codable { var received: UInt64 = 0; var total: UInt64 = 0; var done = false; var error: String?; var output: String? }
    let jobs = Mutex<[String: Job]>([:])

    func start(_ downloader: FileDownloader, target text: String, output: String?) -> String {
        let id = UUID().uuidString
        jobs.withLock { $0[id] = Job() }
        Task {
            do {
                let store = downloader.exchange.store
                var target: DownloadTarget?
                if let hash = Hash256(hex: text) {
                    target = await downloader.target(forHash: hash)
                } else if let fileID = TransferID(uuidString: text) {
                    for owner in try store.cache.owners() + [store.chain.owner] {
                        if let e = try store.catalog.file(owner: owner, id: fileID) { target = DownloadTarget(e.file, owner: e.owner); break }
                    }
                }
                guard let target else {
                    throw DownloadFailure.invalidTarget("'\(text)' is neither a known file ID nor the hash of content anyone announces")
                }
                jobs.withLock { $0[id]?.total = target.size }
                if store.warehouse.contains(target.hash) {
                    // Our own content: nothing to download.
                    if let output { try FileManager.default.copyItem(atPath: store.warehouse.path(for: target.hash), toPath: output) }
                } else {
                    try await downloader.download(target) { [weak self] done, total in
                        self?.jobs.withLock { $0[id]?.received = done; $0[id]?.total = total }
                    }
                    if let output { try Self.copy(store.downloads, hash: target.hash, size: target.size, to: output) }
                }
                jobs.withLock { $0[id]?.received = target.size; $0[id]?.done = true; $0[id]?.output = output }
            } catch {
                jobs.withLock { $0[id]?.error = "\(error)"; $0[id]?.done = true }
            }
        }
        return id
    }

    /// Copies verified content out of the cache (temporary file + rename: no half files).
    static func copy(_ cache: DownloadCache, hash: Hash256, size: UInt64, to output: String) throws {
        let temp = output + ".peernet-part"
        FileManager.default.createFile(atPath: temp, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: temp) else { throw CocoaError(.fileWriteNoPermission) }
        var offset: UInt64 = 0
        while offset < size {
            let chunk = try cache.read(hash, offset: offset, length: 4 << 20)
            handle.write(Data(chunk))
            offset += UInt64(chunk.count)
            if chunk.isEmpty { break }
        }
        try handle.synchronize()
        try handle.close()
        if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
        try FileManager.default.moveItem(atPath: temp, toPath: output)
    }

    func poll(_ id: String) -> Job? { jobs.withLock { $0[id] } }
}
