import Foundation
import PeernetCrypto
import PeernetNode
import PeernetProtocol
import PeernetTransfer
import Synchronization

extension BlockExchange {
    public enum DownloadError: Error, Equatable, CustomStringConvertible {
        case notConnected, notAvailable, terminated, timeout, aborted, protocolError(String)
        public var description: String {
            switch self {
            case .notConnected: return "the holder is not connected"
            case .notAvailable: return "the holder does not have that file"
            case .terminated: return "the holder ended the transfer"
            case .timeout: return "the holder stopped sending (timeout)"
            case .aborted: return "the download was abandoned"
            case .protocolError(let m): return "protocol error: \(m)"
            }
        }
    }

    /// Streams `limit` bytes (0 = to the end) at `offset` of the file with `hash` from one
    /// holder (Transfer command + UDT, transfer.md §4). `onBytes` gets the data as it arrives
    /// in order and returns false to abandon the transfer. Fails when nothing arrives for
    /// `idleTimeout` seconds. Returns the stream header.
    /// `fastPath` (default: when the holder runs this implementation) asks for the encrypted
    /// transfer protocol 1 with larger packets; reference holders get protocol 0.
    public func streamRange(hash: Hash256, from peer: PublicKey, offset: UInt64, limit: UInt64, idleTimeout: Double = 10,
                            fastPath: Bool? = nil, sequenceTimeout: Double = 60,
                            onBytes: @escaping @Sendable (ArraySlice<UInt8>) -> Bool) async throws -> FileTransferHeader {
        let id = TransferID.random()
        let sequence = node.nextSequence(for: peer)
        let encrypted = fastPath ?? isOwnKind(peer)
        let cipher = encrypted ? TransferCipher(local: node.key, remote: peer, transferID: id, isRequester: true) : nil
        guard let session = try? makeSession(id: id, peer: peer, role: .server, idleTimeout: idleTimeout, cipher: cipher) else {
            throw DownloadError.notConnected
        }
        struct State { var header: FileTransferHeader?; var pendingHeader: [UInt8] = []; var received: UInt64 = 0; var done = false
            var error: DownloadError?; var lastData = monotonicSeconds() }
        let state = Mutex(State())
        @Sendable func finish(_ error: DownloadError?) { state.withLock { s in if !s.done { s.done = true; s.error = error } } }
        session.connection.onData = { bytes in
            var deliver: ArraySlice<UInt8> = []
            var complete = false
            let proceed: Bool = state.withLock { s in
                guard !s.done else { return false }
                s.lastData = monotonicSeconds()
                var data = bytes
                if s.header == nil {
                    s.pendingHeader += data
                    guard s.pendingHeader.count >= FileTransferHeader.size else { return true }
                    guard let h = try? FileTransferHeader.decode(Array(s.pendingHeader.prefix(FileTransferHeader.size))) else {
                        s.done = true
                        s.error = .protocolError("bad stream header")
                        return false
                    }
                    s.header = h
                    data = s.pendingHeader.dropFirst(FileTransferHeader.size)
                    s.pendingHeader = []
                }
                let want = s.header!.transferSize - s.received
                if UInt64(data.count) > want { data = data.prefix(Int(want)) }
                s.received += UInt64(data.count)
                deliver = data
                complete = s.received >= s.header!.transferSize
                return true
            }
            if proceed, !deliver.isEmpty, !onBytes(deliver) { finish(.aborted) }
            // Done only once the last bytes were handled: marked before, the caller could
            // return (and commit what it had) while `onBytes` still wrote the last fragments,
            // and a complete download then reported its last fragments missing.
            if complete { finish(nil) }
        }
        session.connection.onStateChange = { st in
            if case .closed(let why) = st, why != "done" { finish(.protocolError("UDT closed: \(why)")) }
        }
        // The sequence carries only the request and the holder's refusals; the data comes over
        // UDT, which does not refresh it. So its expiry ends only a stream that has gone quiet:
        // it ended every transfer that took longer than `sequenceTimeout` (60 s: a 256 MiB run
        // below ~4.5 MB/s), however fast the data was still coming.
        _ = node.openBidirectionalSequence(peer: peer, sequence: sequence, timeout: sequenceTimeout, handler: { received, _ in
            guard let m = try? TransferMessage.decode(received.packet.payload) else { return }
            if m.control == .notAvailable { finish(.notAvailable) }
            if m.control == .terminate { finish(.terminated) }
        }, onExpire: {
            if state.withLock({ monotonicSeconds() - $0.lastData > idleTimeout }) { finish(.timeout) }
        })
        defer {
            node.closeBidirectionalSequence(peer: peer, sequence: sequence)
            session.connection.close(reason: "download ended", now: monotonicSeconds())
        }
        var request = TransferMessage.request(hash: hash, offset: offset, limit: limit, transferID: id)
        request.transferProtocol = cipher == nil ? 0 : 1
        try node.sendPacket(Packet(command: .transfer, sequence: sequence, payload: try request.encode()), to: peer)
        while true {
            let s = state.withLock { $0 }
            if s.done { break }
            // A cancelled caller (a read whose reader got a signal, a mount that ends) stops
            // waiting now: the sleep's cancellation was swallowed, and the loop waited for the
            // idle timeout with nobody left to answer.
            if Task.isCancelled { finish(.aborted); break }
            if monotonicSeconds() - s.lastData > idleTimeout { finish(.timeout); break }
            try? await Task.sleep(for: .milliseconds(2))
        }
        let result = state.withLock { $0 }
        if result.header != nil && result.received == result.header!.transferSize && result.error == nil { return result.header! }
        try Task.checkCancellation()
        if result.error == .aborted { throw DownloadError.aborted }
        if let error = result.error { throw error }
        throw DownloadError.timeout
    }

    /// Downloads a byte range into memory (unverified; small ranges and tests).
    public func downloadRange(hash: Hash256, from peer: PublicKey, offset: UInt64, limit: UInt64,
                              timeout: Double = 10, fastPath: Bool? = nil) async throws -> (header: FileTransferHeader, data: [UInt8]) {
        let buffer = Mutex<[UInt8]>([])
        let header = try await streamRange(hash: hash, from: peer, offset: offset, limit: limit, idleTimeout: timeout,
                                           fastPath: fastPath) { bytes in
            buffer.withLock { $0 += bytes }
            return true
        }
        return (header, buffer.withLock { $0 })
    }
}
