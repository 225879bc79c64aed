import Foundation
import Glibc
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetNode
import PeernetProtocol
import PeernetStore
import PeernetSupport

/// The request handlers behind the decoders, each a fuzz target of its own (issue 14).
///
/// A decoder target only proves that bytes parse; these feed decoded messages into a running
/// node with a real store behind it (SQLite chain, warehouse with content), as a peer would
/// after the packet layer. A fuzzer cannot forge signatures, so input enters after signature
/// recovery (`Node.handleAuthenticated`), from one of four fixed identities.
///
/// Input: byte 0 picks the sender (and for `extension` the command), bytes 1-4 the sequence
/// number, the rest is the payload of the target's command.
///
/// Each input must hold these bounds, or the target traps:
/// - replies sent back to the requester within the call: at most `maxReplyBytes` +
///   `maxAmplification` × input size (network.md §10 item 13: amplification);
/// - one allocation at most 64 MiB and RSS at most 2 GiB over the run: libFuzzer's
///   `-malloc_limit_mb`/`-rss_limit_mb`, which `scripts/fuzz.sh` sets.
enum StatefulTarget: String, CaseIterable, Sendable {
    case announcement, getBlock = "get-block", transfer, `extension`, traverse

    func command(selector: UInt8) -> Command {
        switch self {
        case .announcement: return selector & 0x80 == 0 ? .announcement : .response
        case .getBlock: return .getBlock
        case .transfer: return .transfer
        case .extension: return Command(rawValue: selector & 0x80 == 0 ? 32 : 33)  // search, Merkle tree
        case .traverse: return .traverse
        }
    }
}

/// Removed at exit (libFuzzer ends the process with exit()).
nonisolated(unsafe) var harnessDirectory: String?

final class StatefulHarness: @unchecked Sendable {
    /// Reply bytes one request may cause, beyond `maxAmplification` times its own size. An
    /// Announcement answers at most 64 keys with a few peer records each.
    static let maxReplyBytes = 16 * 1024
    static let maxAmplification = 4
    /// Reply bytes to a proven address for one request: 64 keys of an Announcement with 20
    /// records each, in parts, stay well under this.
    static let maxReplyBytesProven = 1 << 20

    /// The node's key is the decoder target's receiver key, so seeds stay valid for both.
    static let nodeKey = try! PrivateKey(bytes: [UInt8](repeating: 2, count: 32))
    static let senders: [PrivateKey] = (10..<14).map { try! PrivateKey(bytes: [UInt8](repeating: UInt8($0), count: 32)) }
    /// Shared content: small, one fragment, several fragments (deterministic, so seeds can name it).
    static let contents: [[UInt8]] = [Array("hello peernet".utf8),
                                      (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) },
                                      (0..<1_200_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }]
    static var contentHashes: [Hash256] { contents.map { Hash256.blake3($0) } }

    let target: StatefulTarget
    let runtime: PeernetRuntime
    let directory: URL
    private let replySocket: Int32
    let replyEndpoint: Endpoint
    private var buffer = [UInt8](repeating: 0, count: 70_000)
    private(set) var executions = 0
    private(set) var largestReply = 0

    init(target: StatefulTarget) throws {
        self.target = target
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("peernet-fuzz-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        harnessDirectory = directory.path
        atexit { if let path = harnessDirectory { try? FileManager.default.removeItem(atPath: path) } }
        let store = try LocalStore(dataDirectory: DataDirectory(url: directory), key: Self.nodeKey)
        var records: [FileRecord] = []
        for (i, content) in Self.contents.enumerated() {
            let imported = try store.warehouse.importData(content)
            records.append(FileRecord(hash: imported.hash, id: .random(), merkleRoot: imported.merkle.root,
                                      fragmentSize: imported.merkle.fragmentSize, type: 1, format: 10, size: imported.size,
                                      tags: [FileTag(type: FileTag.name, text: "fuzz holiday \(i).mp4")]))
        }
        try store.chain.addFiles(records)
        // Loopback only: replies to addresses named in the input cannot leave this machine
        // (a socket bound to 127.0.0.1 cannot reach other networks; run it in netns-run too).
        var config = NodeConfig(listen: [Endpoint("127.0.0.1:0")!])
        config.localDiscovery = false
        config.rootPeers = []
        let node = try Node(key: Self.nodeKey, config: config)
        var options = PeernetRuntime.Options()
        options.shareFolder = directory.appendingPathComponent("share")
        options.autoSync = true
        runtime = try PeernetRuntime(store: store, node: node, options: options)
        node.start()

        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var size: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(4))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        replySocket = fd
        replyEndpoint = Endpoint(ip: IPAddress("127.0.0.1")!, port: UInt16(bigEndian: address.sin_port))
    }

    /// One input through the target's handler; traps when a bound is broken.
    func run(_ input: [UInt8]) {
        guard input.count >= 5 else { return }
        let selector = input[0]
        let sender = Self.senders[Int(selector & 3)].publicKey
        let sequence = UInt32(input[1]) | UInt32(input[2]) << 8 | UInt32(input[3]) << 16 | UInt32(input[4]) << 24
        let packet = Packet(command: target.command(selector: selector), sequence: sequence, payload: Array(input[5...]))
        _ = drain(sequence: nil, key: nil)  // timers' traffic and late replies of earlier inputs are not this input's
        runtime.node.handleAuthenticated(ReceivedPacket(packet: packet, sender: sender), source: replyEndpoint, network: 0)
        let replied = drain(sequence: sequence, key: Self.senders[Int(selector & 3)])
        executions += 1
        largestReply = max(largestReply, replied)
        // The amplification bound is for addresses nobody proved: a sender that completed a
        // round trip with the node (the fuzzer learns the node's sequence numbers from its
        // comparisons) may get large replies there, by design (Node.sendReplies). Those are
        // held to an absolute bound instead.
        let proven = runtime.node.addressProven(sender, at: replyEndpoint)
        let bound = proven ? Self.maxReplyBytesProven : Self.maxReplyBytes + Self.maxAmplification * input.count
        if replied > bound {
            // Swift's trap skips libFuzzer's crash file: keep the input for replay.
            let name = "crash-\(target.rawValue)-\(Hash256.blake3(input).hex.prefix(16))"
            _ = FileManager.default.createFile(atPath: name, contents: Data(input))
            fatalError("amplification: a \(input.count)-byte \(target.rawValue) request made the node send \(replied) bytes (address proven: \(proven))")
        }
    }

    /// Bytes of reply waiting on the requester's socket, read without blocking. A reply is a
    /// packet to the sender with the request's sequence (the node's timers keep pinging and
    /// looking up its peers, all of which live at this socket: that is not amplification), or
    /// a raw lite packet of a transfer session (transfer and get-block targets).
    private func drain(sequence: UInt32?, key: PrivateKey?) -> Int {
        var total = 0
        for _ in 0..<10_000 {
            let n = buffer.withUnsafeMutableBytes { recv(replySocket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 { break }
            guard let sequence, let key else { continue }
            if let p = try? PacketCodec.decode(Array(buffer[0..<n]), receiver: key.publicKey) {
                if p.packet.sequence == sequence { total += n }
            } else if target == .transfer || target == .getBlock {
                // Raw lite packets: the transfer sessions a request opened. (In the other
                // targets they belong to the node's own chain fetches from the senders, which
                // run concurrently and are not a reply to this input.)
                total += n
            }
        }
        return total
    }

    /// Valid payloads for the target, so the fuzzer starts past the first length checks.
    static func seeds(for target: StatefulTarget) throws -> [[UInt8]] {
        let me = nodeKey.publicKey
        let hashes = contentHashes
        func input(_ selector: UInt8, _ payload: [UInt8]) -> [UInt8] { [selector, 1, 0, 0, 0] + payload }
        let header = MessageHeader(features: [.ipv4Listen], blockchainHeight: 3, blockchainVersion: 1,
                                   portInternal: 112, userAgent: "Fuzz/1")
        switch target {
        case .announcement:
            var peer = PeerRecord(publicKey: senders[1].publicKey)
            peer.ipv4 = IPv4Address("127.0.0.1")!
            peer.ipv4PortReportedInternal = 112
            let response = Response(header: header, hashToPeers: [HashToPeers(hash: hashes[0], storing: [peer], closest: [peer])],
                                    embeddedFiles: [EmbeddedFile(data: [1, 2, 3])], hashesNotFound: [hashes[1]])
            return [
                input(0, Announcement(header: header, findSelf: true).encode(sendUserAgent: true)[0]),
                input(1, Announcement(header: header, findSelf: false, findPeer: [Hash256.nodeID(of: me)],
                                      findValue: hashes, infoStore: [InfoStoreRecord(hash: hashes[0], size: 13)])
                    .encode(sendUserAgent: true)[0]),
                input(0x82, try response.encode(sendUserAgent: true)[0]),
            ]
        case .getBlock:
            return [
                input(0, try GetBlockMessage.request(blockchain: me, limitBlockCount: 10, maxBlockSize: 50_096,
                                                     transferID: .random(), ranges: [BlockRange(offset: 0, count: 3)]).encode()),
                input(1, try GetBlockMessage.request(blockchain: me, limitBlockCount: 4096, maxBlockSize: 4096, transferID: .random(),
                                                     ranges: (0..<64).map { BlockRange(offset: UInt64($0) * 1000, count: 1000) }).encode()),
            ]
        case .transfer:
            return try hashes.enumerated().map { i, h in
                input(UInt8(i), try TransferMessage.request(hash: h, offset: UInt64(i) * 5, limit: 0, transferID: .random()).encode())
            }
        case .extension:
            func list(_ kind: UInt8, _ items: [[UInt8]]) -> [UInt8] {
                [kind, UInt8(items.count & 0xff), UInt8(items.count >> 8)] + items.flatMap { $0 }
            }
            return [
                input(0, list(3, [Hash256.blake3(Array("holiday".utf8)).bytes, hashes[0].bytes])),
                input(1, list(7, hashes.map(\.bytes))),
                input(2, list(1, [[UInt8](repeating: 5, count: 210)])),
                input(3, list(5, [[UInt8](repeating: 6, count: 146)])),
                input(0x80, [1] + hashes[2].bytes + [0, 0, 0, 0]),
            ]
        case .traverse:
            let t = try Traverse.signed(by: senders[0], target: senders[1].publicKey, relay: me, expires: 1_900_000_000,
                                        embeddedPacket: [UInt8](repeating: 7, count: 120))
            return [input(0, t.encode())]
        }
    }
}
