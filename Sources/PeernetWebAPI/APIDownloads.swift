import Foundation
import PeernetBlockchain
import PeernetExchange
import PeernetProtocol
import PeernetStore
import Synchronization

/// Downloads started by /download/start: verified, multi-source downloads through the shared
/// downloader (so they show in `.peernet/transfers` like any other), written to the caller's
/// path once complete. Pause stops fetching and keeps what arrived; resume goes on from there.
final class APIDownloads: Sendable {
    /// The reference's DownloadX states.
    enum State: Int { case waitMetadata = 0, waitSwarm = 1, active = 2, paused = 3, canceled = 4, finished = 5 }
    /// The reference's DownloadResponseX codes.
    enum Reply { static let success = 0, idNotFound = 1, fileInvalid = 2, actionInvalid = 4, fileWrite = 5 }

    /// Downloads kept at most (finished ones are forgotten first, as the reference forgets
    /// them an hour after they end).
    static let maxKept = 1024
    /// How long to look for the file's record and holders.
    static let metadataTimeout: Duration = .seconds(30)

    struct Entry {
        var state = State.waitMetadata
        var file: APIFile?
        var target: DownloadTarget?
        var downloaded: UInt64 = 0
        var peers: UInt64 = 0
        var path: String
        var task: Task<Void, Never>?
        var ended: ContinuousClock.Instant?
    }

    let entries = Mutex<[UUID: Entry]>([:])

    /// Creates the target file at once (as the reference does) and starts. nil when the
    /// file cannot be created.
    /// nil also when `maxKept` downloads are running and none has ended (the table is bounded).
    func start(hash: Hash256, nodeID: Hash256, path: String, runtime: PeernetRuntime) -> UUID? {
        let id = UUID()
        let admitted = entries.withLock { e -> Bool in
            if e.count >= Self.maxKept {
                guard let oldest = e.filter({ $0.value.ended != nil }).min(by: { $0.value.ended! < $1.value.ended! })?.key else { return false }
                e[oldest] = nil
            }
            e[id] = Entry(path: path)
            return true
        }
        guard admitted else { return nil }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else {
            entries.withLock { $0[id] = nil }
            return nil
        }
        close(fd)
        run(id, hash: hash, nodeID: nodeID, runtime: runtime)
        return id
    }

    private func run(_ id: UUID, hash: Hash256, nodeID: Hash256, runtime: PeernetRuntime) {
        let task = Task { [self] in
            var target = entries.withLock { $0[id]?.target }
            if target == nil {
                target = await Self.find(hash: hash, nodeID: nodeID, runtime: runtime)
                guard let target else { end(id, .canceled); return }
                let owner = target.owner ?? runtime.node.publicKey
                let record = (try? runtime.store.catalog.files(withHash: hash))?.first { $0.owner == owner }?.file
                entries.withLock { e in
                    e[id]?.target = target
                    e[id]?.file = record.map { APIFile($0, owner: owner) }
                    e[id]?.state = .waitSwarm
                }
            }
            guard let target, !Task.isCancelled else { return }
            entries.withLock { $0[id]?.state = .active }
            do {
                let store = runtime.store
                if let source = store.warehouse.contentPath(target.hash) {
                    // Our own content: copied, nothing to fetch.
                    let path = entries.withLock { $0[id]?.path } ?? ""
                    _ = try? FileManager.default.removeItem(atPath: path)
                    try FileManager.default.copyItem(atPath: source, toPath: path)
                } else {
                    try await runtime.downloader.download(target) { [weak self] done, _ in
                        self?.entries.withLock { $0[id]?.downloaded = done; $0[id]?.peers = 1 }
                    }
                    try Task.checkCancellation()
                    let path = entries.withLock { $0[id]?.path } ?? ""
                    try store.downloads.export(target.hash, size: target.size, to: path)
                }
                entries.withLock { $0[id]?.downloaded = target.size }
                end(id, .finished)
            } catch {
                // Paused or canceled by the user: the state was set by the action.
                if entries.withLock({ $0[id]?.state }) == .active { end(id, .canceled) }
            }
        }
        entries.withLock { $0[id]?.task = task }
    }

    /// The record (with its owner) for a hash: a cached chain of the node asked, any holder,
    /// or the holders the DHT knows, looked for up to `metadataTimeout`.
    static func find(hash: Hash256, nodeID: Hash256, runtime: PeernetRuntime) async -> DownloadTarget? {
        let deadline = ContinuousClock.now + metadataTimeout
        while ContinuousClock.now < deadline && !Task.isCancelled {
            let entries = (try? runtime.store.catalog.files(withHash: hash)) ?? []
            if let e = entries.first(where: { $0.ownerNodeID == nodeID }) ?? entries.first { return DownloadTarget(e.file, owner: e.owner) }
            if let t = await runtime.downloader.target(forHash: hash) { return t }
            try? await Task.sleep(for: .seconds(1))
        }
        return nil
    }

    private func end(_ id: UUID, _ state: State) {
        entries.withLock { e in
            e[id]?.state = state
            e[id]?.ended = .now
            e[id]?.task = nil
        }
    }

    func status(_ id: UUID) -> Entry? { entries.withLock { $0[id] } }

    /// Pause (0), resume (1), cancel (2): the reference's rules for which applies when.
    func act(_ id: UUID, action: Int, runtime: PeernetRuntime) -> (reply: Int, state: State)? {
        let outcome: (Int, State, Task<Void, Never>?, Bool)? = entries.withLock { e in
            guard var entry = e[id] else { return nil }
            var task: Task<Void, Never>?
            var resume = false
            switch action {
            case 0:
                guard entry.state == .active else { return (Reply.actionInvalid, entry.state, nil, false) }
                entry.state = .paused
                task = entry.task
                entry.task = nil
            case 1:
                guard entry.state == .paused else { return (Reply.actionInvalid, entry.state, nil, false) }
                entry.state = .active
                resume = true
            default:
                guard entry.state != .canceled && entry.state != .finished else { return (Reply.actionInvalid, entry.state, nil, false) }
                entry.state = .canceled
                entry.ended = .now
                task = entry.task
                entry.task = nil
            }
            e[id] = entry
            return (Reply.success, entry.state, task, resume)
        }
        guard let (reply, state, task, resume) = outcome else { return nil }
        task?.cancel()
        if resume, let target = entries.withLock({ $0[id]?.target }) { run(id, hash: target.hash, nodeID: Hash256.nodeID(of: target.owner ?? runtime.node.publicKey), runtime: runtime) }
        return (reply, state)
    }

    func cancelAll() {
        let tasks = entries.withLock { e in e.values.compactMap(\.task) }
        for t in tasks { t.cancel() }
    }
}
