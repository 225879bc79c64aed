import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol

/// Checks content against its Merkle tree while we serve it, so a holder notices when its own
/// copy went bad (a flipped bit on disk, a linked file edited without a new mtime): before,
/// only the reader found out, and the holder kept offering the damaged bytes to everyone.
///
/// Every whole fragment the served range covers is hashed on its way out (BLAKE3, far
/// cheaper than the transfer); a fragment entered midway, or left before its end, is not
/// checked. Memory is one hasher, whatever the fragment size.
struct ServedContentVerifier {
    let tree: MerkleTree
    private var position: UInt64
    private var hasher: BLAKE3?

    init(tree: MerkleTree, offset: UInt64) {
        self.tree = tree
        position = offset
        hasher = tree.fragmentSize > 0 && offset % tree.fragmentSize == 0 ? BLAKE3() : nil
    }

    /// Feeds the next served bytes; returns the index of a fragment that completed with the
    /// wrong hash (our copy is damaged), else nil.
    mutating func feed(_ piece: [UInt8]) -> Int? {
        let size = tree.fragmentSize
        guard size > 0 else { return nil }
        var done = 0
        while done < piece.count {
            let index = position / size
            let fragmentEnd = min(tree.fileSize, (index + 1) * size)
            guard fragmentEnd > position else { return nil }  // past the file: not ours to judge
            let take = Int(min(UInt64(piece.count - done), fragmentEnd - position))
            if hasher != nil {
                piece.withUnsafeBytes { hasher!.update(UnsafeRawBufferPointer(rebasing: $0[done..<(done + take)])) }
            }
            done += take
            position += UInt64(take)
            if position == fragmentEnd {
                if let h = hasher {
                    let digest = Hash256(h.finalize())
                    let expected = tree.fragmentHashes.isEmpty ? tree.root
                        : index < UInt64(tree.fragmentHashes.count) ? tree.fragmentHashes[Int(index)] : nil
                    if let expected, digest != expected { return Int(index) }
                }
                hasher = BLAKE3()
            }
        }
        return nil
    }
}
