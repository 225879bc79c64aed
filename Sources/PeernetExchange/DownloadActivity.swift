import Foundation
import PeernetCrypto
import PeernetProtocol
import PeernetSupport
import Synchronization

/// One file's downloading, as `.peernet/transfers` shows it: every fetch of the downloader
/// counts (a `peernet get`, a web API download, a read through `peers/` or `files/`), whoever
/// started it. Fetches of the same file at once are one line.
public struct DownloadActivity: Sendable, Equatable {
    public var hash: Hash256
    public var size: UInt64
    /// Fetches of this file running now (0: it ended).
    public var running: Int
    /// Holders the latest fetch found.
    public var holders: Int
    public var started: Date
    /// Verified bytes in the cache when it started (the rate counts only what came since).
    public var verifiedAtStart: UInt64
    public var ended: Date?
    /// Why the last fetch failed (nil: it did not).
    public var failure: String?
}

/// The downloader's record of recent downloads: the running ones, and the last
/// `keptEnded` that ended.
final class DownloadActivityLog: Sendable {
    static let keptEnded = 32
    private let entries = Mutex<[Hash256: DownloadActivity]>([:])

    func began(_ hash: Hash256, size: UInt64, holders: Int, verified: UInt64) {
        entries.withLock { e in
            if var a = e[hash], a.running > 0 {
                a.running += 1
                a.holders = holders
                e[hash] = a
                return
            }
            e[hash] = DownloadActivity(hash: hash, size: size, running: 1, holders: holders, started: Date(),
                                       verifiedAtStart: verified, ended: nil, failure: nil)
            let ended = e.values.filter { $0.running == 0 }
            if ended.count > Self.keptEnded {
                for old in ended.sorted(by: { ($0.ended ?? .distantPast) < ($1.ended ?? .distantPast) }).prefix(ended.count - Self.keptEnded) {
                    e[old.hash] = nil
                }
            }
        }
    }

    func ended(_ hash: Hash256, failure: String?) {
        entries.withLock { e in
            guard var a = e[hash], a.running > 0 else { return }
            a.running -= 1
            if let failure { a.failure = failure }
            if a.running == 0 { a.ended = Date() }
            e[hash] = a
        }
    }

    /// Running first (oldest first), then ended (latest first).
    func all() -> [DownloadActivity] {
        let list = entries.withLock { Array($0.values) }
        return list.filter { $0.running > 0 }.sorted { $0.started < $1.started }
            + list.filter { $0.running == 0 }.sorted { ($0.ended ?? .distantPast) > ($1.ended ?? .distantPast) }
    }
}

extension FileDownloader {
    /// One line per recent download, for `.peernet/transfers`: state, name, how much of how
    /// much, from how many holders, and the rate. Example:
    /// `downloading  holiday.mp4  12.3 MB of 64.0 MB (19%) from 2 peers, 45.1 MB/s  [3fa1c2…]`
    public func activityLines(now: Date = Date()) -> [String] {
        activity.all().map { a in
            let verified = (try? cache.entry(a.hash, includeTree: false))?.verifiedBytes ?? 0
            let name = (try? exchange.store.catalog.files(withHash: a.hash).first?.file.name).flatMap { $0.isEmpty ? nil : $0 } ?? "(unnamed)"
            let seconds = max(0.001, (a.ended ?? now).timeIntervalSince(a.started))
            let rate = ByteCount.text(Double(verified > a.verifiedAtStart ? verified - a.verifiedAtStart : 0) / seconds) + "/s"
            let percent = a.size == 0 ? 100 : Int(Double(verified) * 100 / Double(a.size))
            let tag = "[\(a.hash.hex.prefix(12))…]"
            let label = name.replacingOccurrences(of: "\n", with: " ")
            if a.running > 0 {
                return "downloading  \(label)  \(ByteCount.text(Double(verified))) of \(ByteCount.text(Double(a.size))) (\(percent)%) from \(a.holders) \(a.holders == 1 ? "peer" : "peers"), \(rate)  \(tag)"
            }
            if let failure = a.failure, verified < a.size {
                return "failed       \(label)  \(ByteCount.text(Double(verified))) of \(ByteCount.text(Double(a.size))): \(failure)  \(tag)"
            }
            let state = verified >= a.size ? "done       " : "stopped    "
            return "\(state)  \(label)  \(ByteCount.text(Double(verified))) of \(ByteCount.text(Double(a.size))) in \(String(format: "%.1f", seconds)) s, \(rate)  \(tag)"
        }
    }
}
