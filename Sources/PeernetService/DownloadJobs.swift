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
                    if let output, let source = store.warehouse.contentPath(target.hash) { try FileManager.default.copyItem(atPath: source, toPath: output) }
                } else {
                    try await downloader.download(target) { [weak self] done, total in
                        self?.jobs.withLock { $0[id]?.received = done; $0[id]?.total = total }
                    }
                    if let output { try store.downloads.export(target.hash, size: target.size, to: output) }
                }
                jobs.withLock { $0[id]?.received = target.size; $0[id]?.done = true; $0[id]?.output = output }
            } catch {
                jobs.withLock { $0[id]?.error = "\(error)"; $0[id]?.done = true }
            }
        }
        return id
    }

    func poll(_ id: String) -> Job? { jobs.withLock { $0[id] } }
}
