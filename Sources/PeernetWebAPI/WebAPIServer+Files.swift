import Foundation
import Hummingbird
import MultipartKit
import NIOCore
import PeernetBlockchain
import PeernetCrypto
import PeernetProtocol
import PeernetStore

/// /blockchain/file/add, /update, /delete and /warehouse/*: the reference's way of sharing
/// (upload into the warehouse, then add a record naming the hash). Here the record is made
/// by the share-folder publisher: added content is placed in the share folder, so a file
/// shared through the API is a file in `me/`, and `rm` in `me/` unshares it.
extension WebAPIServer {
    /// Largest JSON body accepted (a list of file records).
    static let maxJSONBody = 16 << 20
    /// Uploads tracked by ID at most (the oldest are forgotten).
    static let maxTrackedUploads = 1024

    func decodeJSON<T: Decodable>(_ type: T.Type, _ request: Request) async -> T? {
        guard let body = try? await request.body.collect(upTo: Self.maxJSONBody) else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(buffer: body))
    }

    func chainStatus(_ status: Int) -> Response {
        json(APIBlockchainBlockStatus(status: status, height: runtime.store.chain.height, version: runtime.store.chain.version))
    }

    // MARK: /blockchain/file/*

    /// POST /blockchain/file/add: every file must be in the warehouse (folders excepted);
    /// on any failure nothing is published.
    func fileAdd(_ request: Request) async -> Response {
        guard let input = await decodeJSON(APIFileListInput.self, request) else { return Response(status: .badRequest) }
        var items: [SharePublisher.Placement] = []
        for file in input.files {
            if file.isVirtualFolder {
                items.append(.init(hash: nil, folder: file.folder, name: file.name, description: file.description, id: file.id))
                continue
            }
            guard let hash = Hash256([UInt8](file.hash)) else { return Response(status: .badRequest) }
            guard runtime.store.warehouse.contains(hash) else { return chainStatus(ChainStatus.notInWarehouse) }
            items.append(.init(hash: hash, folder: file.folder, name: file.name, description: file.description, id: file.id))
        }
        let placed = items
        return await publish { _ = try $0.add(placed) }
    }

    /// POST /blockchain/file/update: files found by ID get new content, place or description.
    func fileUpdate(_ request: Request) async -> Response {
        guard let input = await decodeJSON(APIFileListInput.self, request) else { return Response(status: .badRequest) }
        var items: [SharePublisher.Placement] = []
        for file in input.files {
            guard let id = file.id else { return Response(status: .badRequest) }
            var hash: Hash256?
            if !file.isVirtualFolder {
                guard let h = Hash256([UInt8](file.hash)) else { return Response(status: .badRequest) }
                guard runtime.store.warehouse.contains(h) else { return chainStatus(ChainStatus.notInWarehouse) }
                hash = h
            }
            items.append(.init(hash: hash, folder: file.folder, name: file.name, description: file.description, id: id))
        }
        let placed = items
        return await publish { _ = try $0.update(placed) }
    }

    /// POST /blockchain/file/delete: only the IDs count. The files leave the share folder.
    func fileDelete(_ request: Request) async -> Response {
        guard let input = await decodeJSON(APIFileListInput.self, request) else { return Response(status: .badRequest) }
        let ids = Set(input.files.compactMap(\.id))
        return await publish { _ = try $0.unshare(ids: ids) }
    }

    /// Runs a publisher call off the Swift pool (it hashes and writes files).
    private func publish(_ body: @escaping @Sendable (SharePublisher) throws -> Void) async -> Response {
        let publisher = runtime.publisher
        let outcome: Int = await withCheckedContinuation { done in
            Thread.detachNewThread {
                do {
                    try body(publisher)
                    done.resume(returning: ChainStatus.ok)
                } catch let error as SharePublisher.PlacementError {
                    apiLog.warning("publishing through the web API: \(error)")
                    switch error {
                    case .notInWarehouse: done.resume(returning: ChainStatus.notInWarehouse)
                    case .unknownID: done.resume(returning: ChainStatus.dataNotFound)
                    case .ignored, .failed: done.resume(returning: ChainStatus.corruptBlockRecord)
                    }
                } catch {
                    apiLog.warning("publishing through the web API: \(error)")
                    done.resume(returning: ChainStatus.corruptBlockRecord)
                }
            }
        }
        return chainStatus(outcome)
    }

    // MARK: /warehouse/*

    /// POST /warehouse/create: a multipart form with the content in the part "File" and an
    /// optional upload ID ("id", in the form or the query) whose progress
    /// /warehouse/create/track/uploadID reports. The content streams to disk as it arrives.
    func warehouseCreate(_ request: Request) async -> Response {
        let contentType = request.headers[.contentType] ?? ""
        guard let boundary = Self.boundary(of: contentType) else { return rawJSON("{}") }
        var uploadID = request.uri.queryParameters["id"].flatMap { UUID(uuidString: String($0)) }
        let declared = request.headers[.contentLength].flatMap { UInt64($0) } ?? 0

        let warehouse = runtime.store.warehouse
        let incoming: (path: String, descriptor: Int32)
        do { incoming = try warehouse.makeIncomingFile() } catch {
            return json(APIWarehouseResult(status: WarehouseStatus.errorCreateTempFile, hash: nil))
        }
        var closed = false
        defer {
            if !closed { close(incoming.descriptor); unlink(incoming.path) }
        }

        let parser = MultipartParser(boundary: boundary)
        let part = PartState()
        parser.onHeader = { name, value in
            guard name.lowercased() == "content-disposition" else { return }
            part.name = Self.dispositionName(value)
        }
        parser.onBody = { buffer in
            if part.name == "File" {
                part.sawFile = true
                guard part.error == nil else { return }
                buffer.withUnsafeReadableBytes { raw in
                    var done = 0
                    while done < raw.count {
                        let n = write(incoming.descriptor, raw.baseAddress! + done, raw.count - done)
                        if n < 0 { if errno == EINTR { continue }; part.error = errno; return }
                        done += n
                    }
                }
                part.written += UInt64(buffer.readableBytes)
            } else if part.name == "id", part.text.count < 100 {
                part.text += buffer.readableBytesView.prefix(100)
            }
        }
        parser.onPartComplete = {
            if part.name == "id" { part.idText = String(decoding: part.text, as: UTF8.self) }
            part.name = nil
            part.text = []
        }
        do {
            for try await chunk in request.body {
                try parser.execute(chunk)
                if uploadID == nil, let text = part.idText { uploadID = UUID(uuidString: text) }
                if let uploadID { trackUpload(uploadID, uploaded: part.written, total: max(declared, part.written)) }
            }
        } catch {
            return rawJSON("{}")
        }
        guard part.sawFile else { return rawJSON("{}") }
        if let code = part.error {
            apiLog.warning("upload to the warehouse failed: \(String(cString: strerror(code)))")
            return json(APIWarehouseResult(status: 2, hash: nil))   // StatusErrorWriteTempFile
        }
        close(incoming.descriptor)
        closed = true
        let path = incoming.path
        let result: Result<Warehouse.Imported, Error> = await Self.offPool { Result { try warehouse.adopt(incoming: path, label: "upload") } }
        switch result {
        case .success(let imported):
            if let uploadID { trackUpload(uploadID, uploaded: imported.size, total: imported.size) }
            return json(APIWarehouseResult(status: WarehouseStatus.ok, hash: Data(imported.hash.bytes)))
        case .failure(let error):
            apiLog.warning("upload to the warehouse failed: \(error)")
            return json(APIWarehouseResult(status: 3, hash: nil))   // StatusErrorCloseTempFile
        }
    }

    /// GET /warehouse/create/uploadID: a new ID to track an upload with.
    func newUploadID() -> Response {
        let id = UUID()
        let status = trackUpload(id, uploaded: 0, total: 0)
        return json(status)
    }

    /// GET /warehouse/create/track/uploadID?id=
    func uploadInfo(_ request: Request) -> Response {
        guard let text = request.uri.queryParameters["id"], !text.isEmpty else { return Response(status: .badRequest) }
        guard let id = UUID(uuidString: String(text)) else { return Response(status: .ok) }
        guard let status = uploads.withLock({ $0.status[id] }) else {
            return json(APIUploadStatus(apistatus: 1, id: WebAPIConfiguration.nullKey.uuidString.lowercased()))
        }
        return json(status)
    }

    @discardableResult
    func trackUpload(_ id: UUID, uploaded: UInt64, total: UInt64) -> APIUploadStatus {
        uploads.withLock { u in
            var s = u.status[id] ?? APIUploadStatus(id: id.uuidString.lowercased())
            if u.status[id] == nil {
                u.order.append(id)
                if u.order.count > Self.maxTrackedUploads { u.status[u.order.removeFirst()] = nil }
            }
            s.progress.totalsize = total
            s.progress.uploadedsize = uploaded
            s.progress.percentage = total == 0 ? 0 : (Double(uploaded) / Double(total) * 10_000).rounded() / 100
            u.status[id] = s
            return s
        }
    }

    /// GET /warehouse/create/path?path=: stores a local file (as the reference, any file the
    /// node can read: keep the API key set).
    func warehouseCreatePath(_ request: Request) async -> Response {
        guard let path = request.uri.queryParameters["path"].map(String.init), !path.isEmpty else { return Response(status: .badRequest) }
        let warehouse = runtime.store.warehouse
        let result: Result<Warehouse.Imported, Error> = await Self.offPool { Result { try warehouse.importFile(at: path) } }
        switch result {
        case .success(let imported): return json(APIWarehouseResult(status: WarehouseStatus.ok, hash: Data(imported.hash.bytes)))
        case .failure: return json(APIWarehouseResult(status: WarehouseStatus.errorOpenFile, hash: nil))
        }
    }

    /// GET /warehouse/read?hash=[&offset=&limit=] or with a Range header.
    func warehouseRead(_ request: Request) async -> Response {
        let q = request.uri.queryParameters
        guard let hash = q["hash"].flatMap({ Hash256(hex: String($0)) }) else { return Response(status: .badRequest) }
        let warehouse = runtime.store.warehouse
        guard let size = warehouse.size(of: hash) else { return Response(status: .notFound) }
        let window: ReadWindow
        switch Self.readWindow(request, size: size, clampLimit: true) {
        case .success(let w): window = w
        case .failure(let refusal): return refusal.response
        }
        return streamed(offset: window.offset, length: window.length, size: size, partial: window.partial) { o, n in
            try warehouse.read(hash, offset: o, length: n)
        }
    }

    /// GET /warehouse/read/path?hash=&path=[&offset=&limit=]: writes stored content to a new
    /// local file (never over an existing one).
    func warehouseReadPath(_ request: Request) async -> Response {
        let q = request.uri.queryParameters
        guard let hash = q["hash"].flatMap({ Hash256(hex: String($0)) }) else { return Response(status: .badRequest) }
        let target = q["path"].map(String.init) ?? ""
        let warehouse = runtime.store.warehouse
        guard let size = warehouse.size(of: hash) else { return json(APIWarehouseResult(status: WarehouseStatus.fileNotFound, hash: Data(hash.bytes))) }
        let offset = min(q["offset"].flatMap { UInt64(String($0)) } ?? 0, size)
        let limit = q["limit"].flatMap { UInt64(String($0)) } ?? 0
        let length = limit == 0 ? size - offset : min(limit, size - offset)
        let status: Int = await Self.offPool {
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return errno == EEXIST ? WarehouseStatus.errorTargetExists : WarehouseStatus.errorCreateTarget }
            defer { close(fd) }
            var position = offset
            while position < offset + length {
                guard let piece = try? warehouse.read(hash, offset: position, length: Int(min(offset + length - position, UInt64(Self.readChunk)))),
                      !piece.isEmpty else { return 11 }   // StatusErrorReadFile
                let ok = piece.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) == $0.count }
                guard ok else { return 2 }   // StatusErrorWriteTempFile
                position += UInt64(piece.count)
            }
            return fsync(fd) == 0 ? WarehouseStatus.ok : 2
        }
        return json(APIWarehouseResult(status: status, hash: Data(hash.bytes)))
    }

    /// GET /warehouse/delete?hash=: content a published file still needs is kept (deleting it
    /// would leave a record nobody can download); unshare the file instead.
    func warehouseDelete(_ request: Request) -> Response {
        guard let hash = request.uri.queryParameters["hash"].flatMap({ Hash256(hex: String($0)) }) else { return Response(status: .badRequest) }
        let store = runtime.store
        guard store.warehouse.contains(hash) else { return json(APIWarehouseResult(status: WarehouseStatus.fileNotFound, hash: Data(hash.bytes))) }
        if let published = try? store.catalog.hashes(owner: store.chain.owner), published.contains(hash) {
            return json(APIWarehouseResult(status: 10, hash: Data(hash.bytes)))   // StatusErrorDeleteFile
        }
        store.warehouse.delete(hash)
        return json(APIWarehouseResult(status: WarehouseStatus.ok, hash: Data(hash.bytes)))
    }

    // MARK: Helpers

    /// A body of `length` bytes read in chunks by `read` (200, or 206 with Content-Range).
    /// `first`: the window's first piece, read before the headers went out (so a holder that
    /// cannot be reached is a 502, not a 200 with a cut body).
    func streamed(offset: UInt64, length: UInt64, size: UInt64, partial: Bool, first: [UInt8]? = nil, contentType: String? = nil,
                  read: @escaping @Sendable (UInt64, Int) async throws -> [UInt8]) -> Response {
        var headers: HTTPFields = [.contentType: contentType ?? "application/octet-stream", .acceptRanges: "bytes"]
        headers[.contentLength] = "\(length)"
        if partial { headers[.contentRange] = "bytes \(offset)-\(offset + length - 1)/\(size)" }
        let end = offset + length
        let writeTimeout = configuration.writeTimeout
        return Response(status: partial ? .partialContent : .ok, headers: headers, body: ResponseBody(contentLength: Int(length)) { writer in
            var position = offset
            var piece = first
            while position < end {
                let bytes: [UInt8]
                if let p = piece { bytes = p } else { bytes = try await read(position, Int(min(end - position, UInt64(Self.readChunk)))) }
                piece = nil
                guard !bytes.isEmpty else { break }
                try await Self.send(ByteBuffer(bytes: bytes), to: writer, within: writeTimeout)
                position += UInt64(bytes.count)
            }
            try await writer.finish(nil)
        })
    }

    /// One piece of a response body, given up when the client has not taken it within
    /// `seconds` (APITimeoutWrite): a client that stops reading holds no connection, task and
    /// buffer for ever. Unlike Go's WriteTimeout, which cuts every response at that age, a long
    /// stream goes on for as long as the client keeps reading.
    static func send(_ buffer: ByteBuffer, to writer: any ResponseBodyWriter, within seconds: Double) async throws {
        // The writer is used by the child task only while this task waits for the group, so
        // it is never used from two tasks at once.
        let sending = UncheckedWriter(writer: writer)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                var w = sending.writer
                try await w.write(buffer)
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return false
            }
            let written = try await group.next() ?? false
            group.cancelAll()
            guard written else { throw WriteStalled() }
        }
    }

    private struct UncheckedWriter: @unchecked Sendable { var writer: any ResponseBodyWriter }

    struct WriteStalled: Error, CustomStringConvertible {
        var description: String { "the client took nothing for APITimeoutWrite; the response is given up" }
    }

    /// Blocking file work on a thread of its own, not the Swift pool.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { done in Thread.detachNewThread { done.resume(returning: body()) } }
    }

    static func boundary(of contentType: String) -> String? {
        guard contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let kv = parameter.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].lowercased() == "boundary" else { continue }
            let value = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            return value.isEmpty || value.count > 200 ? nil : value
        }
        return nil
    }

    /// The `name` of `form-data; name="File"; filename="a.txt"`.
    static func dispositionName(_ value: String) -> String? {
        for parameter in value.split(separator: ";").dropFirst() {
            let kv = parameter.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == "name" { return kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }
}

/// The multipart parser's view of the part it is in (its callbacks run one at a time, on the
/// request's task).
private final class PartState: @unchecked Sendable {
    var name: String?
    var text: [UInt8] = []
    var idText: String?
    var sawFile = false
    var written: UInt64 = 0
    var error: Int32?
}

/// Uploads tracked by ID, oldest first.
struct UploadTable {
    var status: [UUID: APIUploadStatus] = [:]
    var order: [UUID] = []
}
