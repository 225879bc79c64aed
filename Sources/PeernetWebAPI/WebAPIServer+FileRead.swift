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
        // Our own content comes from the warehouse; anyone else's through the downloader.
        let own = runtime.store.warehouse.size(of: hash)
        let entry = own == nil ? (try? runtime.store.catalog.files(withHash: hash))?.sorted { a, _ in a.ownerNodeID == nodeID }.first : nil
        guard let size = own ?? entry?.file.size else { return Response(status: .notFound) }

        let window: ReadWindow
        switch Self.readWindow(request, size: size, clampLimit: false) {
        case .success(let w): window = w
        case .failure(let refusal): return refusal.response
        }
        let (offset, length) = (window.offset, window.length)

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
        return streamed(offset: offset, length: length, size: size, partial: window.partial, first: first,
                        contentType: view && q["format"].flatMap({ Int(String($0)) }) == 14 ? "video/mp4" : nil, read: read)
    }
}

/// Where a read starts and how much it takes: from a Range header (a 206 answer), else from
/// the reference's offset and limit parameters.
struct ReadWindow {
    var offset: UInt64
    var length: UInt64
    var partial: Bool
}

/// Why a read's window was refused, as its HTTP answer.
struct ReadRefusal: Error {
    let response: Response
}

extension WebAPIServer {
    /// The window of a read of a `size`-byte file. `clampLimit`: an offset or limit past the
    /// end is cut (the reference's /warehouse/read) instead of refused with 400 (/file/read).
    static func readWindow(_ request: Request, size: UInt64, clampLimit: Bool) -> Result<ReadWindow, ReadRefusal> {
        let q = request.uri.queryParameters
        let range: HTTPByteRange?
        do { range = try HTTPByteRange.parse(request.headers.first { $0.name.canonicalName == "range" }?.value) } catch {
            return .failure(ReadRefusal(response: Response(status: .badRequest)))
        }
        if let range {
            guard let r = range.resolve(size: size) else {
                return .failure(ReadRefusal(response: Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(size)"])))
            }
            return .success(ReadWindow(offset: r.offset, length: r.length, partial: true))
        }
        var offset = q["offset"].flatMap { UInt64(String($0)) } ?? 0
        var limit = q["limit"].flatMap { UInt64(String($0)) } ?? 0
        if clampLimit {
            offset = min(offset, size)
            limit = min(limit, size - offset)
        } else {
            guard offset <= size, limit <= size - offset else { return .failure(ReadRefusal(response: Response(status: .badRequest))) }
        }
        return .success(ReadWindow(offset: offset, length: limit == 0 ? size - offset : limit, partial: false))
    }
}
