import ArgumentParser
import Foundation
import PeernetCrypto
#if canImport(Glibc)
import Glibc
#endif

struct HashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Print the BLAKE3 hash of files, as Peernet identifies them.",
        discussion: """
        Output is the same as b3sum's: "<hash>  <path>" per file. With no file, or with "-", \
        standard input is hashed.

        Examples:
          peernet hash movie.mkv notes.txt
          cat notes.txt | peernet hash
          peernet hash --json *.flac
        """
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print one JSON document: a list of {path, hash}.") var json = false
    @Argument(help: ArgumentHelp("Files to hash (\"-\" is standard input).", valueName: "file"))
    var files: [String] = []

    struct Entry: Encodable { let path: String; let hash: String }

    func run() async throws {
        let paths = files.isEmpty ? ["-"] : files
        var entries: [Entry] = []
        var failed = false
        for path in paths {
            do {
                let digest = try FileHasher.hash(path: path)
                let entry = Entry(path: path, hash: Hex.encode(digest))
                if json { entries.append(entry) } else { print("\(entry.hash)  \(path)") }
            } catch {
                Output.error("\(path): \(error)")
                failed = true
            }
        }
        if json { try Output.json(entries) }
        if failed { throw ExitCode(1) }
    }
}

/// Streams a file through BLAKE3 in 1 MiB reads: constant memory for any file size.
enum FileHasher {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func hash(path: String) throws -> [UInt8] {
        let fd = path == "-" ? dup(0) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            throw Failure(description: "Is a directory")
        }
        var hasher = BLAKE3()
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress!, size)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hasher.finalize()
    }
}
