import Foundation
import Logging
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetSupport

private let chainLog = Logger.peernet("exchange")

/// Our own chain's version, as the network last saw it.
///
/// Peers never take an older version of a chain than the one they cached (no rollback). So
/// after a restored backup (an older `peernet.sqlite`), peers would ignore our chain, and
/// every file added since the backup's version would stay invisible, until our version
/// passed theirs by chance. Nothing in the reference protocol tells a node what version of
/// its own chain others hold, so we publish it ourselves: a signed keyword record under a key
/// no word hashes to ("chain marker"), stored by the nodes closest to it as search records
/// are (only nodes of this implementation store them). At start we look it up; a newer
/// version than ours moves our chain above it.
extension NetworkSearch {
    /// The DHT key of `owner`'s chain marker.
    static func chainMarkerKey(_ owner: PublicKey) -> Hash256 {
        Hash256.blake3(Array("peernet chain version of ".utf8) + owner.compressed)
    }

    /// Our chain marker: version and height now.
    func chainMarker(expires: UInt64) -> (Hash256, KeywordRecord)? {
        guard chainMarkerChecked.withLock({ $0 }) else { return nil }
        let key = Self.chainMarkerKey(node.publicKey)
        guard let record = try? KeywordRecord.signed(by: node.key, word: key, fileID: .zero, fileHash: .zero, fileSize: 0,
                                                     chainVersion: store.chain.version, block: store.chain.height, expires: expires)
        else { return nil }
        return (key, record)
    }

    /// The newest version of our own chain that the network has a marker of, if any.
    public func newestPublishedVersionOfOwnChain() async -> UInt64? {
        let me = node.publicKey
        let found = await findRecords(Self.chainMarkerKey(me)).filter { $0.owner == me }
        return found.map(\.chainVersion).max()
    }

    /// Looks up our chain's marker; when peers saw a newer version than ours, rewrites the
    /// chain under a version above it, announces that and republishes. Returns the version
    /// seen when it acted.
    @discardableResult
    public func adoptNewerPublishedVersion() async -> UInt64? {
        let seen = await newestPublishedVersionOfOwnChain()
        chainMarkerChecked.withLock { $0 = true }
        let ours = store.chain.version
        guard let seen, seen > ours else {
            // Tell the network where we are (markers are published from now on).
            if seen != ours, let (key, marker) = chainMarker(expires: Self.unixNow + UInt64(recordLifetime)) {
                await distribute([key: [marker]])
            }
            return nil
        }
        do {
            try store.chain.moveVersion(above: seen)
        } catch {
            chainLog.error("peers hold version \(seen) of our blockchain, newer than ours (\(ours)), but moving ours above it failed: \(error)")
            return nil
        }
        chainLog.warning("peers hold version \(seen) of our blockchain, newer than ours (\(ours): a restored backup?); it is now version \(store.chain.version), so they take it again")
        exchange.publishChainState()
        await publishAll()
        return seen
    }
}
