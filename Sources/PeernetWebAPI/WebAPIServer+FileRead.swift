import Foundation
import Hummingbird
import NIOCore
import PeernetBlockchain
import PeernetCrypto
import PeernetExchange
import PeernetProtocol
import PeernetStore

/// One byte range of a `Range: bytes=…` header (a single range; several are refused with 400,
/// as the reference does).
struct HTTPByteRange: Equatable {
    var start: UInt64?
    var end: UInt64?      // inclusive
    var suffix: UInt64?   // bytes=-N

    /// nil for no header; throws for a malformed one or several ranges.
    static func parse(_ header: String?) throws -> HTTPByteRange? {
        guard let header, !header.isEmpty else { return nil }
        guard header.hasPrefix("bytes="), !header.contains(",") else { throw RangeError.invalid }
        let spec = header.dropFirst(6)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw RangeError.invalid }
        if parts[0].isEmpty {
            guard let n = UInt64(parts[1]), n > 0 else { throw RangeError.invalid }
            return HTTPByteRange(suffix: n)
        }
        guard let start = UInt64(parts[0]) else { throw RangeError.invalid }
        if parts[1].isEmpty { return HTTPByteRange(start: start) }
        guard let end = UInt64(parts[1]), end >= start else { throw RangeError.invalid }
        return HTTPByteRange(start: start, end: end)
    }

    /// Offset and length within a file of `size` bytes; nil when it does not fit (416).
    func resolve(size: UInt64) -> (offset: UInt64, length: UInt64)? {
        if let suffix { return size == 0 ? nil : (size - min(suffix, size), min(suffix, size)) }
        guard let start, start < size else { return nil }
        let last = min(end ?? (size - 1), size - 1)
        return (start, last - start + 1)
    }

    enum RangeError: Error { case invalid }
}

extension WebAPIServer {
    /// Reads served per chunk, from the warehouse or through the downloader (verified).
    static let readChunk = 1 << 20

    /// GET /file/read?hash=&node=[&offset=&limit=&timeout=], or a Range header. /file/view is
    /// the same with `format=` (14, video, is served as video/mp4, as the reference does).
    func fileRead(_ request: Request, view: Bool = false) async throws -> Response {
        let q = request.uri.queryParameters
        guard let hash = q["hash"].flatMap({ Hash256(hex: String($0)) }) else { return Response(status: .badRequest) }
        let nodeText = q["node"].map(String.init) ?? ""
        let nodeID = Hash256(hex: nodeText) ?? (try? PublicKey(bytes: Hex.decode(nodeText))).map { Hash256.nodeID(of: $0) }
        guard let nodeID else { return Response(status: .badRequest) }
        let range: HTTPByteRange?
        do { range = try HTTPByteRange.parse(request.headers.first { $0.name.canonicalName == "range" }?.value) } catch {
            return Response(status: .badRequest)
        }

        // Our own content comes from the warehouse; anyone else's through the downloader.
        let own = runtime.store.warehouse.size(of: hash)
        let entry = own == nil ? (try? runtime.store.catalog.files(withHash: hash))?.sorted { a, _ in a.ownerNodeID == nodeID }.first : nil
        guard let size = own ?? entry?.file.size else { return Response(status: .notFound) }

        var offset = q["offset"].flatMap { UInt64(String($0)) } ?? 0
        var length: UInt64
        if let range {
            guard let r = range.resolve(size: size) else {
                return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(size)"])
            }
            (offset, length) = r
        } else {
            guard offset <= size else { return Response(status: .badRequest) }
            let limit = q["limit"].flatMap { UInt64(String($0)) } ?? 0
            guard limit <= size - offset else { return Response(status: .badRequest) }
            length = limit == 0 ? size - offset : limit
        }

        let read: @Sendable (UInt64, Int) async throws -> [UInt8]
        if own != nil {
            let warehouse = runtime.store.warehouse
            read = { o, n in try warehouse.read(hash, offset: o, length: n) }
        } else if let entry {
            let downloader = runtime.downloader
            let target = DownloadTarget(entry.file, owner: entry.owner)
            read = { o, n in try await downloader.read(target, offset: o, length: n) }
        } else {
            return Response(status: .notFound)
        }
        // The first piece before the headers: a holder that cannot be reached is a 502, not
        // a 200 with a cut body.
        let first: [UInt8]
        do { first = length == 0 ? [] : try await read(offset, Int(min(length, UInt64(Self.readChunk)))) } catch {
            return Response(status: .badGateway)
        }
        var headers: HTTPFields = [.contentType: "application/octet-stream", .acceptRanges: "bytes"]
        if view, q["format"].flatMap({ Int(String($0)) }) == 14 { headers[.contentType] = "video/mp4" }
        headers[.contentLength] = "\(length)"
        if range != nil { headers[.contentRange] = "bytes \(offset)-\(offset + length - 1)/\(size)" }
        let status: HTTPResponse.Status = range != nil ? .partialContent : .ok
        let start = offset, end = offset + length
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: Int(length)) { writer in
            var position = start
            var piece = first
            while true {
                guard !piece.isEmpty else { break }
                try await writer.write(ByteBuffer(bytes: piece))
                position += UInt64(piece.count)
                guard position < end else { break }
                piece = try await read(position, Int(min(end - position, UInt64(Self.readChunk))))
            }
            try await writer.finish(nil)
        })
    }
}
