import Foundation
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetStore

/// A shared file as the CLI and the control channel show it.
public struct SharedFileInfo: Codable, Sendable, Equatable {
    public let id: String
    public let hash: String
    public let name: String
    public let folder: String
    public let description: String
    public let size: UInt64
    public let type: String
    public let format: UInt16
    public let dateShared: Int64?

    public init(_ f: FileRecord) {
        id = f.id.uuidString
        hash = f.hash.hex
        name = f.name
        folder = f.folder
        description = f.fileDescription
        size = f.size
        type = Int(f.type) < FileTypeDetection.typeNames.count ? FileTypeDetection.typeNames[Int(f.type)] : "type \(f.type)"
        format = f.format
        dateShared = f.dateShared
    }
}

/// The store operations behind `share`, `unshare`, `ls` and `profile`, used the same way by
/// the CLI on an idle data directory and by the running node for the CLI.
public enum StoreActions {
    public static let profileFields: [String: UInt16] = Dictionary(uniqueKeysWithValues: ProfileField.names().map { ($1, $0) })

    /// Copies files into the share folder and publishes them there at once.
    public static func share(_ publisher: SharePublisher, paths: [String], folder: String, name: String?, description: String,
                             progress: ((UInt64, UInt64) -> Void)? = nil) throws -> [SharedFileInfo] {
        try publisher.share(paths: paths, folder: folder, name: name, description: description, progress: progress).map(SharedFileInfo.init)
    }

    /// Unshares by file ID, or every own file whose content equals the given file's: the files
    /// leave the share folder, which unpublishes them.
    public static func unshare(_ publisher: SharePublisher, targets: [String]) throws -> [SharedFileInfo] {
        let store = publisher.store
        var ids = Set<TransferID>()
        for t in targets {
            if let id = TransferID(uuidString: t) {
                guard try store.chain.file(id: id) != nil else { throw StoreError.noSuchFile(t) }
                ids.insert(id)
            } else if FileManager.default.fileExists(atPath: t) {
                var hasher = BLAKE3()
                guard let handle = FileHandle(forReadingAtPath: t) else { throw StoreError.noSuchFile(t) }
                while true {
                    let chunk = handle.readData(ofLength: 1 << 20)
                    if chunk.isEmpty { break }
                    hasher.update([UInt8](chunk))
                }
                let hash = Hash256(hasher.finalize())!
                let matches = try store.chain.files().filter { $0.hash == hash }
                guard !matches.isEmpty else { throw StoreError.noSuchFile("with the content of \(t)") }
                ids.formUnion(matches.map(\.id))
            } else {
                throw StoreError.noSuchFile("'\(t)' (give a file ID from 'peernet ls' or the path of a shared file)")
            }
        }
        return try publisher.unshare(ids: ids).map(SharedFileInfo.init)
    }

    public static func list(_ store: LocalStore, folder: String?) throws -> [SharedFileInfo] {
        try store.chain.files(folder: folder).map(SharedFileInfo.init)
    }

    /// Recently shared files of other peers (from cached chains), newest first.
    public static func explore(_ store: LocalStore, limit: Int) throws -> [SearchResult] {
        try store.catalog.recent(excluding: store.chain.owner, limit: limit)
    }

    public static func profileField(_ name: String) throws -> UInt16 {
        if let f = profileFields[name.lowercased()] { return f }
        if let n = UInt16(name) { return n }
        throw ControlError.remote("unknown profile field '\(name)'; use one of \(profileFields.keys.sorted().joined(separator: ", ")) or a number")
    }

    /// Profile as field name -> text (binary fields as "<N bytes>").
    public static func profile(_ store: LocalStore) throws -> [String: String] {
        var out: [String: String] = [:]
        let names = Dictionary(uniqueKeysWithValues: ProfileField.names())
        for (field, value) in try store.chain.profile() {
            let key = names[field] ?? String(field)
            out[key] = field == ProfileField.picture ? "<\(value.count) bytes>" : (String(validating: value, as: UTF8.self) ?? "<\(value.count) bytes>")
        }
        return out
    }

    public static func setProfile(_ store: LocalStore, field: String, value: [UInt8]) throws {
        try store.chain.writeProfile([ProfileField(field: try profileField(field), value: value)])
    }

    @discardableResult
    public static func deleteProfile(_ store: LocalStore, field: String) throws -> Int {
        try store.chain.deleteProfile(fields: [try profileField(field)])
    }
}
