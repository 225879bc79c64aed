import Foundation

// peernet-bench: prints a table of performance figures, each next to a baseline measured in the
// same run where one exists. Run in release mode:  swift run -c release peernet-bench [group...]
// Groups: crypto, protocol, node (DHT simulation and receive pipeline), store (share, search), exchange (chain sync, network search), transfer (downloads), fs (the FUSE drive), fs-link (its cold remote rows on a 1 Gbit/s link: root), drive (the write side of me/ against the share folder used directly), flood (a download while 256 ports flood the holder; RSS growth), webapi (/file/read, /search and /status against the same work without HTTP), growth (cost against size: each series at three sizes 100x apart, with its growth exponent against the expected one). With no argument every group runs.

let groups: [(name: String, run: (BenchTable) -> Void)] = [
    ("crypto", CryptoBenchmarks.run),
    ("protocol", ProtocolBenchmarks.run),
    ("node", NodeBenchmarks.run),
    ("store", StoreBenchmarks.run),
    ("exchange", ExchangeBenchmarks.run),
    ("transfer", TransferBenchmarks.run),
    ("fs", FSBenchmarks.run),
    ("fs-link", FSBenchmarks.runOnLink),
    ("drive", DriveBenchmarks.run),
    ("flood", FloodBenchmarks.run),
    ("webapi", WebAPIBenchmarks.run),
    ("growth", GrowthBenchmarks.run),
]

let requested = Set(CommandLine.arguments.dropFirst())
if requested.contains("--help") || requested.contains("-h") {
    print("usage: peernet-bench [\(groups.map(\.name).joined(separator: "|"))...]")
    exit(0)
}
let unknown = requested.subtracting(groups.map(\.name))
if !unknown.isEmpty {
    FileHandle.standardError.write(Data("peernet-bench: unknown group(s) \(unknown.sorted()); known: \(groups.map(\.name))\n".utf8))
    exit(2)
}
#if DEBUG
FileHandle.standardError.write(Data("peernet-bench: warning: debug build; figures are meaningless. Use: swift run -c release peernet-bench\n".utf8))
#endif
let table = BenchTable()
for group in groups where requested.isEmpty || requested.contains(group.name) {
    FileHandle.standardError.write(Data("running \(group.name)...\n".utf8))
    group.run(table)
}
// A child measuring inside fs-link's namespace hands its rows back instead of printing them.
if ProcessInfo.processInfo.environment["PEERNET_BENCH_LINK_ROWS"] == nil {
    print(table.render(), terminator: "")
}
