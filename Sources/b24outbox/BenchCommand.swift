import ArgumentParser
import Benchmarks
import Foundation

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure delivery speed: W1 drain, W2 rate-limited portal, W3 latency, W4 producers, W5 growth.",
        discussion: """
            Each workload gets a fresh database of its own on the server of --database-url (it needs
            CREATEDB; the databases are named b24outbox_bench_* and dropped afterwards), a simulator
            process and a worker process started from this binary. Build with -c release first.
            """)

    @Option(help: "Workloads to run, comma-separated (w1,w2,w3,w4,w5,w6).") var only = "w1,w2,w3,w4,w5,w6"
    @Option(help: "Worker threads of the worker process.") var concurrency = 4
    @Option(name: .customLong("rss-concurrency"), help: "Worker threads of the drain whose peak memory is reported.")
    var rssConcurrency = 8
    @Option(help: "Drains of W1 and W5; the best counts, as for the peers.") var runs = 5
    @Option(name: .customLong("w1-intents"), help: "Intents of the W1 and W5 drains.") var w1Intents = 50_000
    @Option(name: .customLong("unbatched-intents"), help: "Intents of the W1 drain without batching.") var unbatchedIntents = 10_000
    @Option(name: .customLong("w2-intents"), help: "Intents of W2.") var w2Intents = 6_000
    @Option(name: .customLong("w3-samples"), help: "Samples of W3.") var w3Samples = 500
    @Option(name: .customLong("w4-intents"), help: "Intents through the bulk API in W4.") var w4Intents = 200_000
    @Option(name: .customLong("w4-batch"), help: "Intents per bulk API call in W4.") var w4Batch = 1_000
    @Option(name: .customLong("w4-producers"), help: "Producer connections writing at once in W4's bulk part.") var w4Producers = 4
    @Option(name: .customLong("w4-runs"), help: "Runs of W4's bulk part; the best counts.") var w4Runs = 3
    @Option(name: .customLong("w4-sql-intents"), help: "Intents through the SQL function in W4.") var w4SQLIntents = 50_000
    @Option(name: .customLong("w5-log-entries"), help: "Log entries of W5's history.") var w5LogEntries = 5_000_000
    @Option(name: .customLong("w5-intents"), help: "Delivered intents of W5's history.") var w5Intents = 1_000_000
    @Option(help: "Write the report as JSON to this file.") var json: String?
    @Option(name: .customLong("log-dir"), help: "Where the simulator's and workers' output goes.") var logDir = "/tmp/b24outbox-bench"
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        let names = only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard !names.isEmpty, names.allSatisfy({ Bench.Workload(rawValue: $0) != nil }) else {
            throw ValidationError("--only takes w1, w2, w3, w4, w5 and w6, comma-separated")
        }
        let counts = [concurrency, rssConcurrency, runs, w1Intents, unbatchedIntents, w2Intents, w3Samples, w4Intents, w4Batch, w4Producers, w4Runs, w4SQLIntents]
        guard counts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("counts must be at least 1") }
        try requireRange(concurrency, 1...256, "--concurrency")
        try requireRange(rssConcurrency, 1...256, "--rss-concurrency")
        try requireRange(w4Batch, 1...100_000, "--w4-batch")
        try requireRange(w5Intents, 1...100_000_000, "--w5-intents")
        try requireRange(w5LogEntries, 3...1_000_000_000, "--w5-log-entries")
        for (value, option) in [(w1Intents, "--w1-intents"), (unbatchedIntents, "--unbatched-intents"), (w2Intents, "--w2-intents"),
                                (w3Samples, "--w3-samples"), (w4Intents, "--w4-intents"), (w4SQLIntents, "--w4-sql-intents")] {
            try requireRange(value, 1...100_000_000, option)
        }
        try requireRange(runs, 1...100, "--runs")
        try requireRange(w4Runs, 1...100, "--w4-runs")
        try requireRange(w4Producers, 1...256, "--w4-producers")
        guard w5LogEntries >= 3 * w5Intents else {
            throw ValidationError("--w5-log-entries must be at least 3 × --w5-intents (each intent has 3 entries)")
        }
    }

    func run() async throws {
        // Fails fast, with the usual advice, when the server cannot be reached.
        try database.connect().close()
        try FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
        var configuration = Bench.Configuration(
            server: database.conninfo, executable: try Self.executablePath(), logDirectory: logDir)
        configuration.workloads = Set(only.split(separator: ",").compactMap {
            Bench.Workload(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased())
        })
        configuration.concurrency = concurrency
        configuration.rssConcurrency = rssConcurrency
        configuration.drainRuns = runs
        configuration.w1Intents = w1Intents
        configuration.unbatchedIntents = unbatchedIntents
        configuration.w2Intents = w2Intents
        configuration.w3Samples = w3Samples
        configuration.w4BulkIntents = w4Intents
        configuration.w4BulkBatch = w4Batch
        configuration.w4Producers = w4Producers
        configuration.w4Runs = w4Runs
        configuration.w4SQLIntents = w4SQLIntents
        configuration.w5LogEntries = w5LogEntries
        configuration.w5DeliveredIntents = w5Intents
        let bench = Bench(configuration: configuration) { line in
            FileHandle.standardError.write(Data("\(line)\n".utf8))
        }
        let report: BenchReport
        do {
            report = try await bench.run(command: (["b24outbox"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        } catch let error as BenchError {
            throw CLIError(error.description)
        }
        print(report.table(), terminator: "")
        if let json {
            try report.json().write(to: URL(fileURLWithPath: json))
            print("JSON written to \(json)")
        }
    }

    /// This very binary, which the bench starts again as simulator and worker.
    static func executablePath() throws -> String {
        let path = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        guard FileManager.default.isExecutableFile(atPath: path) else { throw CLIError("cannot find the b24outbox binary at \(path)") }
        return path
    }
}
