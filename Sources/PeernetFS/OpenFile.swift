import PeernetExchange
import Synchronization

/// A file outside me/ while a program has it open (me/ files have their share-folder
/// descriptor instead): the file as resolved at open (see `FSFile.opened`), and its own read
/// cursor, so two programs reading one file at different places each keep their read-ahead.
final class OpenFile: Sendable {
    let file: any FSFile
    let cursor = ReadCursor()
    /// Where remote content comes from, once found (see `ContentFile`).
    let target = Mutex<DownloadTarget?>(nil)

    init(file: any FSFile) { self.file = file }
}
