import Foundation

/// Small output helpers shared by the subcommands.
enum FileManagerShim {
    static func isReadableFile(_ path: String) -> Bool { FileManager.default.isReadableFile(atPath: path) }
}

enum Output {
    /// Writes one line to standard error (Glibc's `stderr` global is not usable in Swift 6).
    static func error(_ message: String) {
        FileHandle.standardError.write(Data(("peernet: " + message + "\n").utf8))
    }

    /// Writes one line to standard output unbuffered (long-running commands report progress
    /// to pipes and logs immediately).
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Prints one JSON document (sorted keys, so output is stable for scripts and tests).
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
