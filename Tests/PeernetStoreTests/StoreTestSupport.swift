import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
@testable import PeernetStore
import PeernetSupport
import TestSupport
import XCTest

extension XCTestCase {
    /// A new data directory under /tmp, removed when the test ends (each suite run left a
    /// dozen behind).
    func temporaryDataDirectory() throws -> DataDirectory {
        let url = URL(fileURLWithPath: "/tmp/pn-store-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return DataDirectory(url: url)
    }
}

/// Builds the FileRecords of a blocks.json AddFiles operation.
func vectorFiles(_ op: JSON) -> [FileRecord] {
    op["files"].array.map { f in
        var tags: [FileTag] = [FileTag(type: FileTag.name, text: f["name"].string)]
        if f["folder"].exists { tags.append(FileTag(type: FileTag.folder, text: f["folder"].string)) }
        if f["description"].exists { tags.append(FileTag(type: FileTag.description, text: f["description"].string)) }
        if f["date_created"].exists {
            tags.append(FileTag(type: FileTag.dateCreated, date: Int64(ISO8601DateFormatter().date(from: f["date_created"].string)!.timeIntervalSince1970)))
        }
        for extra in f["extra_tags"].array { tags.append(FileTag(type: UInt16(extra["type"].int), data: extra["data"].bytes)) }
        return FileRecord(hash: Hash256(hexBytes(f["hash"].string))!, id: TransferID(uuidString: f["id"].string)!,
                          merkleRoot: Hash256(hexBytes(f["merkle_root_hash"].string))!, fragmentSize: f["fragment_size"].uint64,
                          type: UInt8(f["type"].int), format: UInt16(f["format"].int), size: f["size"].uint64, tags: tags)
    }
}

func unix(_ iso: String) -> Int64 { Int64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970) }
