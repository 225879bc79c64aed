import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetNode
import PeernetProtocol

/// Merkle trees between nodes of this implementation (command 33, ignored by reference nodes,
/// which never send trees). A downloader needs the fragment hashes to verify each fragment as
/// it arrives; the tree it receives is checked against the file record's Merkle root first.
///
/// Kind 1 GET_TREE: content hash (32) ‖ offset (u32 LE) → kind 2: companion size (u32 LE) ‖
/// up to 60,000 bytes of the companion file (data.md §4.4) from that offset.
enum MerkleTreeMessage {
    static let command = Command(rawValue: 33)
    static let chunk = 60_000

    static func request(_ hash: Hash256, offset: UInt32) -> [UInt8] {
        var out: [UInt8] = [1] + hash.bytes
        withUnsafeBytes(of: offset.littleEndian) { out += $0 }
        return out
    }
}

extension BlockExchange {
    /// The tree of content we hold: our warehouse, or a complete download.
    func localTree(_ hash: Hash256) -> MerkleTree? {
        if let t = try? store.warehouse.merkleTree(hash) { return t }
        if let e = try? store.downloads.entry(hash), e.isComplete {
            return e.tree ?? MerkleTree(fileSize: e.size, fragmentSize: e.fragmentSize, fragmentHashes: [], fileHash: hash)
        }
        return nil
    }

    func handleTreeRequest(_ received: ReceivedPacket) -> [UInt8]? {
        let p = received.packet.payload
        guard p.count == 37, p[0] == 1, let hash = Hash256(p[1..<33]) else { return nil }
        let offset = Int(UInt32(p[33]) | UInt32(p[34]) << 8 | UInt32(p[35]) << 16 | UInt32(p[36]) << 24)
        guard let tree = localTree(hash) else { return [2, 0, 0, 0, 0] }
        let export = tree.export()
        guard offset <= export.count else { return nil }
        var out: [UInt8] = [2]
        withUnsafeBytes(of: UInt32(export.count).littleEndian) { out += $0 }
        out += export[offset..<min(export.count, offset + MerkleTreeMessage.chunk)]
        return out
    }

    /// Fetches a file's tree from `peer` and checks it against `root`; nil if the peer has
    /// none (a reference node) or sends a wrong one.
    public func fetchTree(_ hash: Hash256, root: Hash256, size: UInt64, from peer: PublicKey) async -> MerkleTree? {
        var bytes: [UInt8] = []
        var total = -1
        while total < 0 || bytes.count < total {
            guard let reply = try? await node.requestExtension(MerkleTreeMessage.command,
                                                                payload: MerkleTreeMessage.request(hash, offset: UInt32(bytes.count)),
                                                                to: peer, timeout: 5),
                  reply.count >= 5, reply[0] == 2 else { return nil }
            let announced = Int(UInt32(reply[1]) | UInt32(reply[2]) << 8 | UInt32(reply[3]) << 16 | UInt32(reply[4]) << 24)
            guard announced > 0, announced < 1 << 30, total < 0 || announced == total else { return nil }
            total = announced
            guard reply.count > 5 || bytes.count == total else { return nil }
            bytes += reply[5...]
        }
        guard let tree = try? MerkleTree.importTree(bytes), tree.root == root, tree.fileSize == size else { return nil }
        return tree
    }
}
