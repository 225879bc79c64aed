import PeernetExchange

/// A file outside me/ while a program has it open (me/ files have their share-folder
/// descriptor instead): the node it was opened as, and its own read cursor, so two programs
/// reading one file at different places each keep their read-ahead.
final class OpenFile: Sendable {
    let node: FSNode
    let cursor = ReadCursor()

    init(node: FSNode) { self.node = node }
}
