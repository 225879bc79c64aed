import Foundation
import Hummingbird
import PeernetProtocol

/// /download/start, /download/status and /download/action.
extension WebAPIServer {
    /// GET /download/start?path=&hash=&node=
    func downloadStart(_ request: Request) -> Response {
        let q = request.uri.queryParameters
        guard let hash = q["hash"].flatMap({ Hash256(hex: String($0)) }), let node = q["node"].flatMap({ Hash256(hex: String($0)) }) else {
            return Response(status: .badRequest)
        }
        guard let path = q["path"].map(String.init), !path.isEmpty else { return Response(status: .badRequest) }
        guard let id = downloads.start(hash: hash, nodeID: node, path: path, runtime: runtime) else {
            return json(APIDownloadStatus(apistatus: APIDownloads.Reply.fileInvalid))
        }
        return json(APIDownloadStatus(apistatus: APIDownloads.Reply.success, id: id, downloadstatus: APIDownloads.State.waitMetadata.rawValue))
    }

    /// GET /download/status?id=
    func downloadStatus(_ request: Request) -> Response {
        guard let id = request.uri.queryParameters["id"].flatMap({ UUID(uuidString: String($0)) }) else { return Response(status: .badRequest) }
        guard let entry = downloads.status(id) else { return json(APIDownloadStatus(apistatus: APIDownloads.Reply.idNotFound)) }
        var reply = APIDownloadStatus(apistatus: APIDownloads.Reply.success, id: id, downloadstatus: entry.state.rawValue)
        if entry.state.rawValue >= APIDownloads.State.waitSwarm.rawValue, let target = entry.target {
            reply.file = entry.file ?? .zero
            let total = target.size
            reply.progress.totalsize = total
            reply.progress.downloadedsize = entry.downloaded
            reply.progress.percentage = total == 0 ? 100 : (Double(entry.downloaded) / Double(total) * 10_000).rounded() / 100
        }
        if entry.state.rawValue >= APIDownloads.State.active.rawValue { reply.swarm.countpeers = entry.peers }
        return json(reply)
    }

    /// GET /download/action?id=&action= (0 pause, 1 resume, 2 cancel)
    func downloadAction(_ request: Request) -> Response {
        let q = request.uri.queryParameters
        guard let id = q["id"].flatMap({ UUID(uuidString: String($0)) }), let action = q["action"].flatMap({ Int(String($0)) }),
              (0...2).contains(action) else { return Response(status: .badRequest) }
        guard let (reply, state) = downloads.act(id, action: action, runtime: runtime) else {
            return json(APIDownloadStatus(apistatus: APIDownloads.Reply.idNotFound))
        }
        return json(APIDownloadStatus(apistatus: reply, id: id, downloadstatus: state.rawValue))
    }
}

/// apiResponseDownloadStatus.
struct APIDownloadStatus: Encodable {
    struct Progress: Encodable {
        var totalsize: UInt64 = 0
        var downloadedsize: UInt64 = 0
        var percentage: Double = 0
    }
    struct Swarm: Encodable { var countpeers: UInt64 = 0 }
    var apistatus: Int
    var id: String
    var downloadstatus: Int
    var file: APIFile = .zero
    var progress = Progress()
    var swarm = Swarm()

    init(apistatus: Int, id: UUID? = nil, downloadstatus: Int = 0) {
        self.apistatus = apistatus
        self.id = (id ?? WebAPIConfiguration.nullKey).uuidString.lowercased()
        self.downloadstatus = downloadstatus
    }
}
