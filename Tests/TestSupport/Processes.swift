import Foundation
import Synchronization

/// Runs a program, feeding it `stdin` (then end of input), and returns its exit status and
/// output. Both output pipes are drained while it runs (a child writing more than a pipe holds
/// would otherwise block), and it is terminated after `timeout` seconds.
@discardableResult
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                       stdin: Data? = nil, timeout: Double = 60) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = executable
    p.arguments = arguments
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    let collected = Mutex<[Int: Data]>([:])
    let readers = DispatchGroup()
    for (i, pipe) in [out, err].enumerated() {
        DispatchQueue.global().async(group: readers) {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            collected.withLock { $0[i] = data }
        }
    }
    if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
    try? input.fileHandleForWriting.close()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning { p.terminate() }
    p.waitUntilExit()
    readers.wait()
    let data = collected.withLock { $0 }
    return (p.terminationStatus, String(decoding: data[0] ?? Data(), as: UTF8.self), String(decoding: data[1] ?? Data(), as: UTF8.self))
}

/// Runs a shell command line (status 127 if the shell cannot start).
@discardableResult
public func sh(_ command: String, timeout: Double = 60) -> (status: Int32, out: String, err: String) {
    (try? runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", command], timeout: timeout)) ?? (127, "", "cannot start /bin/sh")
}
