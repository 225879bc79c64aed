import Foundation
import PeernetBlockchain
import PeernetExchange
import PeernetStore
import Synchronization

/// A search result as the CLI and the control channel show it.
public struct SearchHit: Codable, Sendable, Equatable {
    public let name: String
    public let folder: String
    public let size: UInt64
    public let type: String
    public let owner: String
    public let hash: String
    public let id: String
    public let dateShared: Int64?
    public let sharedBy: Int
    /// The owner is connected now; false = known from the cached chain only (offline).
    public let ownerOnline: Bool

    public init(_ r: SearchResult, online: Bool = true) {
        let f = r.entry.file
        name = f.name
        folder = f.folder
        size = f.size
        type = Int(f.type) < FileTypeDetection.typeNames.count ? FileTypeDetection.typeNames[Int(f.type)] : "type \(f.type)"
        owner = r.entry.owner.hexString
        hash = f.hash.hex
        id = f.id.uuidString
        dateShared = f.dateShared
        sharedBy = r.sharedBy
        ownerOnline = online
    }
}

/// Parsing of the CLI's filter and sort words.
public enum SearchOptions {
    public static let sorts: [String: SearchSort] = [
        "none": .none, "date": .dateAscending, "date-desc": .dateDescending, "name": .nameAscending,
        "name-desc": .nameDescending, "size": .sizeAscending, "size-desc": .sizeDescending,
        "shared": .sharedByAscending, "shared-desc": .sharedByDescending,
    ]

    public static func type(_ name: String) -> UInt8? {
        FileTypeDetection.typeNames.firstIndex(of: name.lowercased()).map(UInt8.init) ?? UInt8(name)
    }
}
