enum ProtocolBenchmarks {
    static func run(into table: BenchTable) {}
}
