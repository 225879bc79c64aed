import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One request on the control channel: a command name and string arguments.
public struct ControlRequest: Codable, Sendable, Equatable {
    public var command: String
    public var arguments: [String: String]
    public init(command: String, arguments: [String: String] = [:]) {
        self.command = command
        self.arguments = arguments
    }
}

public enum ControlError: Error, CustomStringConvertible, Equatable {
    /// No node answers on the socket.
    case notRunning(path: String)
    /// A node is already running for this data directory.
    case alreadyRunning(path: String)
    case pathTooLong(String)
    case io(String)
    /// The node answered with an error.
    case remote(String)

    public var description: String {
        switch self {
        case .notRunning(let p): return "no running node (no answer on \(p)); start one with 'peernet daemon' or 'peernet mount'"
        case .alreadyRunning(let p): return "a node is already running for this data directory (\(p)); stop it first or use another --data-dir"
        case .pathTooLong(let p): return "the control socket path is too long for a Unix socket (\(p)); use a shorter --data-dir"
        case .io(let m): return "control channel: \(m)"
        case .remote(let m): return m
        }
    }
}

/// The local control channel: a Unix socket (mode 0600) in the data directory through which the
/// CLI and the FUSE mount talk to one running node. One JSON request line in, one JSON
/// response line out: {"ok":true,"result":…} or {"ok":false,"error":"…"}.
public final class ControlServer: Sendable {
    public typealias Handler = @Sendable (ControlRequest) async throws -> Data
    public let path: String
    private let fd: Int32
    private let handler: Handler
    private let stopped = Mutex(false)
    private let done = DispatchGroup()

    public init(path: String, requestDeadline: Double = ControlServer.defaultRequestDeadline, handler: @escaping Handler) throws {
        self.path = path
        self.handler = handler
        self.requestDeadline = requestDeadline
        if FileManager.default.fileExists(atPath: path) {
            if (try? ControlClient.connect(path: path)).map({ Glibc.close($0); return true }) == true {
                throw ControlError.alreadyRunning(path: path)
            }
            unlink(path)  // stale socket of a node that died
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError.io(String(cString: strerror(errno))) }
        // The socket takes its name only once it listens: bound under a temporary name, made
        // 0600, listening, then renamed. Bound in place, a client that saw the file during the
        // node's start could be refused (30 of 30 connects of testClientsThatLeaveEarlyDoNot-
        // KillTheNode under two CPU hogs, the daemon's thread preempted between bind and listen;
        // `peernet status` would have said no node was running). In place only when the
        // temporary name is too long for a socket address.
        let staging = path + ".\(getpid())"
        let staged = (try? ControlClient.withAddress(staging) { _, _ in 0 }) != nil
        let bound = staged ? staging : path
        if staged { unlink(staging) }
        func fail(_ what: String) -> ControlError {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            if staged { unlink(staging) }
            return ControlError.io("cannot \(what) \(path): \(reason)")
        }
        guard try ControlClient.withAddress(bound, { bind(fd, $0, $1) }) == 0 else { throw fail("bind") }
        chmod(bound, 0o600)
        // A backlog of 128: with 16, thirty clients connecting at once to a node starved by
        // two CPU hogs were refused (testClientsThatLeaveEarlyDoNotKillTheNode under load).
        guard listen(fd, 128) == 0 else { throw fail("listen on") }
        if staged { guard rename(staging, path) == 0 else { throw fail("name the socket") } }
        self.fd = fd
    }

    /// Clients served at once; more are answered "busy" at once and closed.
    static let maxClients = 32
    /// A client must send its whole request line within this time (a client dripping a byte
    /// every few seconds gets no longer).
    public static let defaultRequestDeadline = 5.0
    let requestDeadline: Double
    private let clients = Atomic(0)
    /// Clients being served now (tests wait for the cap to be reached).
    var activeClients: Int { clients.load(ordering: .relaxed) }

    public func start() {
        done.enter()
        let thread = Thread { [self] in
            while !stopped.withLock({ $0 }) {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    break
                }
                guard clients.add(1, ordering: .relaxed).newValue <= Self.maxClients else {
                    clients.subtract(1, ordering: .relaxed)
                    ControlClient.writeAll(client, Data("{\"ok\":false,\"error\":\"the node is busy; try again\"}\n".utf8))
                    Glibc.close(client)
                    continue
                }
                // Each client on a thread of its own: reading the request and writing the reply
                // block, and must never hold a thread of Swift's cooperative pool (two idle
                // clients used to delay every other request of the node by 5 s).
                let worker = Thread { [self] in
                    serve(client)
                    clients.subtract(1, ordering: .relaxed)
                }
                worker.name = "peernet-control-client"
                worker.start()
            }
            done.leave()
        }
        thread.name = "peernet-control"
        thread.start()
    }

    private func serve(_ client: Int32) {
        defer { Glibc.close(client) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard let line = ControlClient.readLine(client, limit: 1 << 20, deadline: requestDeadline) else { return }
        let handler = self.handler
        let result = Mutex<Data?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Task {
            var reply: Data
            do {
                let request = try JSONDecoder().decode(ControlRequest.self, from: line)
                let value = try await handler(request)
                reply = Data("{\"ok\":true,\"result\":".utf8) + value + Data("}\n".utf8)
            } catch {
                let message = (try? JSONEncoder().encode("\(error)")) ?? Data("\"error\"".utf8)
                reply = Data("{\"ok\":false,\"error\":".utf8) + message + Data("}\n".utf8)
            }
            result.withLock { $0 = reply }
            finished.signal()
        }
        finished.wait()
        if let reply = result.withLock({ $0 }) { ControlClient.writeAll(client, reply) }
    }

    /// Stops accepting and removes the socket file.
    public func stop() {
        guard stopped.withLock({ s in defer { s = true }; return !s }) else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        done.wait()
        Glibc.close(fd)
        unlink(path)
    }
}

/// Talks to a running node over its control socket.
public enum ControlClient {
    /// Sends one request and returns the JSON of its result.
    public static func call(path: String, _ request: ControlRequest) throws -> Data {
        let fd = try connect(path: path)
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        writeAll(fd, try JSONEncoder().encode(request) + Data("\n".utf8))
        guard let line = readLine(fd, limit: 64 << 20) else { throw ControlError.io("no reply from the node") }
        guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            throw ControlError.io("malformed reply")
        }
        if object["ok"] as? Bool == true {
            return try JSONSerialization.data(withJSONObject: object["result"] ?? NSNull(), options: [.fragmentsAllowed, .sortedKeys])
        }
        throw ControlError.remote(object["error"] as? String ?? "unknown error")
    }

    static func connect(path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError.io(String(cString: strerror(errno))) }
        guard try withAddress(path, { Glibc.connect(fd, $0, $1) }) == 0 else {
            Glibc.close(fd)
            throw ControlError.notRunning(path: path)
        }
        return fd
    }

    static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw ControlError.pathTooLong(path) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// Reads one line (without its newline). With a deadline, the whole line must arrive
    /// within it (poll before each read), however the sender paces its bytes.
    static func readLine(_ fd: Int32, limit: Int, deadline: Double? = nil) -> Data? {
        var data = Data()
        var byte = [UInt8](repeating: 0, count: 65536)
        let end = deadline.map { Date().addingTimeInterval($0) }
        while data.count < limit {
            if let end {
                let left = Int32(max(0, end.timeIntervalSinceNow * 1000))
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if left == 0 || poll(&p, 1, left) <= 0 { return nil }
            }
            let n = read(fd, &byte, byte.count)
            if n <= 0 { break }
            data.append(contentsOf: byte[0..<n])
            if let i = data.firstIndex(of: 0x0a) { return data[data.startIndex..<i] }
        }
        return data.isEmpty ? nil : data
    }

    /// Writes all of `data`, or stops at the first error. MSG_NOSIGNAL: a client that left
    /// before its reply (a `peernet search` past its own timeout) must cost the node an EPIPE,
    /// not a SIGPIPE that kills it (seen in the live interop run: the mount died with signal 13).
    static func writeAll(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
    }
}
