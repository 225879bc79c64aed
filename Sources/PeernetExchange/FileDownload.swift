import Foundation
import PeernetCrypto
import PeernetNode
import PeernetProtocol
import PeernetTransfer
import Synchronization

extension BlockExchange {
    public enum DownloadError: Error, Equatable, CustomStringConvertible {
        case notConnected, notAvailable, terminated, timeout, protocolError(String)
        public var description: String {
            switch self {
            case .notConnected: return "the holder is not connected"
            case .notAvailable: return "the holder does not have that file"
            case .terminated: return "the holder ended the transfer"
            case .timeout: return "the transfer timed out"
            case .protocolError(let m): return "protocol error: \(m)"
            }
        }
    }

    /// Downloads `limit` bytes (0 = to the end) at `offset` of the file with `hash` from one
    /// holder with the Transfer command and UDT (transfer.md §4). Returns the stream header and
    /// the bytes, unverified (the caller checks them against the Merkle tree).
    public func downloadRange(hash: Hash256, from peer: PublicKey, offset: UInt64, limit: UInt64,
                              timeout: Double = 60, progress: (@Sendable (UInt64) -> Void)? = nil) async throws -> (header: FileTransferHeader, data: [UInt8]) {
        let id = TransferID.random()
        let sequence = node.nextSequence(for: peer)
        guard let session = makeSession(id: id, peer: peer, role: .server, idleTimeout: 60) else { throw DownloadError.notConnected }
        let state = Mutex<(buffer: [UInt8], header: FileTransferHeader?, done: Bool, error: DownloadError?)>(([], nil, false, nil))
        @Sendable func finish(_ error: DownloadError?) {
            state.withLock { s in if !s.done { s.done = true; s.error = error } }
        }
        session.connection.onData = { bytes in
            let received: UInt64? = state.withLock { s in
                guard !s.done else { return nil }
                s.buffer += bytes
                if s.header == nil, s.buffer.count >= FileTransferHeader.size {
                    guard let h = try? FileTransferHeader.decode(Array(s.buffer.prefix(FileTransferHeader.size))) else {
                        s.done = true
                        s.error = .protocolError("bad stream header")
                        return nil
                    }
                    s.header = h
                    s.buffer.removeFirst(FileTransferHeader.size)
                }
                if let h = s.header, UInt64(s.buffer.count) >= h.transferSize {
                    s.buffer = Array(s.buffer.prefix(Int(h.transferSize)))
                    s.done = true
                }
                return UInt64(s.buffer.count)
            }
            if let received { progress?(received) }
        }
        session.connection.onStateChange = { st in
            if case .closed(let why) = st, why != "done" { finish(.protocolError("UDT closed: \(why)")) }
        }
        _ = node.openBidirectionalSequence(peer: peer, sequence: sequence, timeout: 60, handler: { received, _ in
            guard let m = try? TransferMessage.decode(received.packet.payload) else { return }
            if m.control == .notAvailable { finish(.notAvailable) }
            if m.control == .terminate { finish(.terminated) }
        }, onExpire: { finish(.timeout) })
        defer {
            node.closeBidirectionalSequence(peer: peer, sequence: sequence)
            session.connection.close(reason: "download ended", now: monotonicSeconds())
        }
        let request = TransferMessage.request(hash: hash, offset: offset, limit: limit, transferID: id)
        try node.sendPacket(Packet(command: .transfer, sequence: sequence, payload: try request.encode()), to: peer)
        let deadline = monotonicSeconds() + timeout
        while !state.withLock({ $0.done }) && monotonicSeconds() < deadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
        let result = state.withLock { $0 }
        if let error = result.error { throw error }
        guard result.done, let header = result.header else { throw DownloadError.timeout }
        return (header, result.buffer)
    }
}
