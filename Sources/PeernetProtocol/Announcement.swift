/// An INFO_STORE record: "I store this data item".
public struct InfoStoreRecord: Equatable, Sendable {
    public static let size = 41
    public var hash: Hash256
    public var size: UInt64
    /// 0 = file, 1 = header file listing parts (the reference only sends 0).
    public var type: UInt8

    public init(hash: Hash256, size: UInt64, type: UInt8 = 0) {
        self.hash = hash
        self.size = size
        self.type = type
    }
}

/// Announcement (command 0) and the Local Discovery payload (command 4): the header plus the
/// optional FIND_SELF, FIND_PEER, FIND_VALUE and INFO_STORE requests (network.md §4.2).
public struct Announcement: Equatable, Sendable {
    public enum Action {
        public static let findSelf: UInt8 = 1 << 0
        public static let findPeer: UInt8 = 1 << 1
        public static let findValue: UInt8 = 1 << 2
        public static let infoStore: UInt8 = 1 << 3
    }

    public var header: MessageHeader
    public var findSelf: Bool
    public var findPeer: [Hash256]
    public var findValue: [Hash256]
    public var infoStore: [InfoStoreRecord]

    public init(header: MessageHeader, findSelf: Bool = false, findPeer: [Hash256] = [],
                findValue: [Hash256] = [], infoStore: [InfoStoreRecord] = []) {
        self.header = header
        self.findSelf = findSelf
        self.findPeer = findPeer
        self.findValue = findValue
        self.infoStore = infoStore
    }

    /// Encodes into one or more payloads of at most `WireLimits.maxPayload` bytes, split the way
    /// the reference splits: each part repeats the header, the user agent and FIND_SELF, and
    /// carries as many keys/records as fit, in section order. Each part is meant to be sent as
    /// its own Announcement with its own sequence.
    public func encode(sendUserAgent: Bool) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var peers = findPeer[...], values = findValue[...], stores = infoStore[...]
        let limit = WireLimits.maxPayload
        repeat {
            var out: [UInt8] = []
            header.encode(actions: 0, sendUserAgent: sendUserAgent, into: &out)
            var actions: UInt8 = findSelf ? Action.findSelf : 0

            func section<T>(_ items: inout ArraySlice<T>, recordSize: Int, bit: UInt8,
                            write: (T, inout [UInt8]) -> Void) {
                guard !items.isEmpty, out.count + 2 + recordSize <= limit else { return }
                let fit = min(items.count, (limit - out.count - 2) / recordSize, Int(UInt16.max))
                actions |= bit
                out.appendLE(UInt16(fit))
                for item in items.prefix(fit) { write(item, &out) }
                items = items.dropFirst(fit)
            }
            section(&peers, recordSize: 32, bit: Action.findPeer) { $1 += $0.bytes }
            if peers.isEmpty {
                section(&values, recordSize: 32, bit: Action.findValue) { $1 += $0.bytes }
            }
            if peers.isEmpty && values.isEmpty {
                section(&stores, recordSize: InfoStoreRecord.size, bit: Action.infoStore) { record, out in
                    out += record.hash.bytes
                    out.appendLE(record.size)
                    out.append(record.type)
                }
            }
            out[2] = actions
            parts.append(out)
        } while !(peers.isEmpty && values.isEmpty && stores.isEmpty)
        return parts
    }

    /// Decodes one payload. Rules of the reference: each flagged section needs at least its
    /// count and one record, and its records must fit; bytes after the last section are ignored.
    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> Announcement {
        var r = ByteReader(payload, what: "announcement")
        let (header, actions) = try MessageHeader.decode(&r)
        var a = Announcement(header: header, findSelf: actions & Action.findSelf != 0)
        func keys(_ name: String) throws(ProtocolError) -> [Hash256] {
            try r.require(2 + 32, name)
            let count = Int(try r.u16le())
            try r.require(count * 32, name)
            var out: [Hash256] = []
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try r.hash()) }
            return out
        }
        if actions & Action.findPeer != 0 { a.findPeer = try keys("FIND_PEER") }
        if actions & Action.findValue != 0 { a.findValue = try keys("FIND_VALUE") }
        if actions & Action.infoStore != 0 {
            try r.require(2 + InfoStoreRecord.size, "INFO_STORE")
            let count = Int(try r.u16le())
            try r.require(count * InfoStoreRecord.size, "INFO_STORE")
            for _ in 0..<count {
                a.infoStore.append(InfoStoreRecord(hash: try r.hash(), size: try r.u64le(), type: try r.u8()))
            }
        }
        return a
    }
}
