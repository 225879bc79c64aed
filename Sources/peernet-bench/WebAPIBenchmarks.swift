import Foundation
import PeernetExchange
import PeernetProtocol
import PeernetStore
import PeernetWebAPI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The web API (issue 17), against the same work done without HTTP in the same run:
/// - /file/read of a remote file, streamed to a socket reader, vs all `peernet get` does;
/// - the first result of /search (POST, then polling /search/result) vs the same search
///   through the shared search jobs directly;
/// - requests per second of /status with 64 concurrent keep-alive clients, vs /test.
/// Size: PEERNET_BENCH_API_MB (default 1024 MiB).
enum WebAPIBenchmarks {
    static func run(into table: BenchTable) {
        for row in runBlocking({ await measure() }) { table.add(row) }
    }

    static func measure() async -> [BenchRow] {
        var out: [BenchRow] = []
        let megabytes = Int(ProcessInfo.processInfo.environment["PEERNET_BENCH_API_MB"] ?? "") ?? 1024
        guard let holder = try? BenchPeer(root: nil, autoSync: false), let reader = try? BenchPeer(root: holder, autoSync: true) else { return out }
        let server = WebAPIServer(runtime: reader.runtime, configuration: WebAPIConfiguration(listen: ["127.0.0.1:0"]))
        do { try await server.start() } catch { return out }
        let port = server.boundEndpoints.withLock { $0[0].port }
        let deadline = Date().addingTimeInterval(10)
        while !reader.node.isConnected(holder.node.publicKey) && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }

        let source = holder.dir.appendingPathComponent("remote.bin").path
        FSBenchmarks.write(source, megabytes: megabytes, seed: 9)
        if let record = try? holder.store.share([LocalStore.ShareRequest(path: source, name: "holiday remote.bin")]).first {
            holder.exchange.publishChainState()
            let listed = Date().addingTimeInterval(20)
            while (try? reader.store.catalog.file(owner: holder.node.publicKey, id: record.id)) == nil && Date() < listed {
                try? await Task.sleep(for: .milliseconds(50))
            }
            let target = DownloadTarget(record, owner: holder.node.publicKey)
            let output = reader.dir.appendingPathComponent("got.bin").path
            let url = "/file/read?hash=\(record.hash.hex)&node=\(Hash256.nodeID(of: holder.node.publicKey).hex)"
            // Interleaved rounds, best of each; every round starts without the file cached.
            var best: [Bool: Double] = [:]
            for api in [false, true, true, false] {
                try? reader.store.downloads.remove(record.hash)
                try? FileManager.default.removeItem(atPath: output)
                let start = Date()
                let ok: Bool
                if api {
                    ok = await onThread { HTTPLoad.streamedBytes(port: port, path: url) } == UInt64(record.size)
                } else {
                    ok = (try? await reader.runtime.downloader.download(target, to: output)) != nil
                }
                let seconds = Date().timeIntervalSince(start)
                if ok { best[api] = min(best[api] ?? .infinity, seconds) }
            }
            if let a = best[true], let g = best[false] {
                let mb = Double(record.size) / 1e6
                out.append(BenchRow(group: "webapi", name: "/file/read of a remote \(megabytes) MiB file", value: mb / a, unit: "MB/s",
                                    baselineName: "peernet get of it (download + output file)", baselineValue: mb / g))
            }
            try? FileManager.default.removeItem(atPath: output)
            try? FileManager.default.removeItem(atPath: source)
        }

        // First result of a search: through HTTP vs the search jobs directly (same index).
        let jobs = SearchJobs(search: reader.runtime.search)
        var viaAPI: [Double] = [], direct: [Double] = []
        for round in 0..<20 {
            if round % 2 == 0 {
                let start = Date()
                let id = await onThread { HTTPLoad.request(port: port, method: "POST", path: "/search", body: #"{"term":"holiday","timeout":5}"#) }
                    .flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }?["id"] as? String
                guard let id else { continue }
                while Date().timeIntervalSince(start) < 5 {
                    let r = await onThread { HTTPLoad.request(port: port, method: "GET", path: "/search/result?id=\(id)&limit=1") } ?? ""
                    if r.contains("\"status\":0") { viaAPI.append(Date().timeIntervalSince(start)); break }
                    try? await Task.sleep(for: .milliseconds(2))
                }
                _ = await onThread { HTTPLoad.request(port: port, method: "GET", path: "/search/terminate?id=\(id)") }
            } else {
                let start = Date()
                guard let id = jobs.start("holiday", filter: SearchFilter(), sort: .none, limit: 200, timeout: 5) else { continue }
                while Date().timeIntervalSince(start) < 5 {
                    if let b = jobs.next(id, limit: 1), !b.results.isEmpty { direct.append(Date().timeIntervalSince(start)); break }
                    try? await Task.sleep(for: .milliseconds(2))
                }
                jobs.terminate(id)
            }
        }
        if !viaAPI.isEmpty && !direct.isEmpty {
            out.append(BenchRow(group: "webapi", name: "/search: first result (median of 10)", value: ExchangeBenchmarks.percentile(viaAPI, 0.5) * 1000,
                                unit: "ms", baselineName: "the same search without HTTP", baselineValue: ExchangeBenchmarks.percentile(direct, 0.5) * 1000))
        }

        // Requests per second, 64 keep-alive clients for 3 s each.
        let test = await onThread { HTTPLoad.requestsPerSecond(port: port, path: "/test", clients: 64, seconds: 3) }
        let status = await onThread { HTTPLoad.requestsPerSecond(port: port, path: "/status", clients: 64, seconds: 3) }
        out.append(BenchRow(group: "webapi", name: "/status, 64 concurrent keep-alive clients", value: status, unit: "req/s",
                            baselineName: "/test (the server alone)", baselineValue: test))
        await server.stop()
        await reader.stop()
        await holder.stop()
        return out
    }

    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { done in Thread.detachNewThread { done.resume(returning: body()) } }
    }
}

/// A small HTTP/1.1 client over blocking sockets (the load side of the benchmark, so that
/// URLSession's own cost does not blur the server's).
enum HTTPLoad {
    static func connectLoopback(_ port: UInt16) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc != 0 { close(fd); return nil }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Reads one response (Content-Length bodies); returns the body, or nil.
    static func readResponse(_ fd: Int32, buffer: inout [UInt8], keepBody: Bool = true) -> (body: [UInt8], length: UInt64)? {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        func fill() -> Bool {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
        var headerEnd: Int?
        while headerEnd == nil {
            if let r = buffer.firstRange(of: [13, 10, 13, 10]) { headerEnd = r.upperBound } else if !fill() { return nil }
        }
        let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self).lowercased()
        let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { UInt64($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
        buffer.removeFirst(headerEnd!)
        var remaining = length
        var body: [UInt8] = []
        while remaining > 0 {
            if buffer.isEmpty && !fill() { return nil }
            let take = Int(min(UInt64(buffer.count), remaining))
            if keepBody { body += buffer[0..<take] }
            buffer.removeFirst(take)
            remaining -= UInt64(take)
        }
        return (body, length)
    }

    static func request(port: UInt16, method: String, path: String, body: String = "") -> String? {
        guard let fd = connectLoopback(port) else { return nil }
        defer { close(fd) }
        guard send(fd, "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)") else { return nil }
        var buffer: [UInt8] = []
        return readResponse(fd, buffer: &buffer).map { String(decoding: $0.body, as: UTF8.self) }
    }

    /// Streams a GET's body to nowhere; returns the bytes received.
    static func streamedBytes(port: UInt16, path: String) -> UInt64 {
        guard let fd = connectLoopback(port) else { return 0 }
        defer { close(fd) }
        guard send(fd, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") else { return 0 }
        var head: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var total: UInt64 = 0
        var length: UInt64?
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            if length == nil {
                head += chunk[0..<n]
                guard let r = head.firstRange(of: [13, 10, 13, 10]) else { continue }
                let text = String(decoding: head[..<r.upperBound], as: UTF8.self).lowercased()
                length = text.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { UInt64($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                total = UInt64(head.count - r.upperBound)
            } else {
                total += UInt64(n)
            }
            if let length, total >= length { break }
        }
        return total
    }

    /// Requests per second over `clients` keep-alive connections for `seconds`.
    static func requestsPerSecond(port: UInt16, path: String, clients: Int, seconds: Double) -> Double {
        let count = Mutex(0)
        let end = Date().addingTimeInterval(seconds)
        let group = DispatchGroup()
        for _ in 0..<clients {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                guard let fd = connectLoopback(port) else { return }
                defer { close(fd) }
                var buffer: [UInt8] = []
                var done = 0
                while Date() < end {
                    guard send(fd, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), readResponse(fd, buffer: &buffer) != nil else { break }
                    done += 1
                }
                count.withLock { $0 += done }
            }
        }
        group.wait()
        return Double(count.withLock { $0 }) / seconds
    }
}
