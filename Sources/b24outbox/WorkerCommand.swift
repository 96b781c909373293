import ArgumentParser
import Bitrix24
import Dispatch
import Foundation
import Logging
import Outbox
import OutboxApp

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Deliver intents: a pool of workers claiming, sending and recording.",
        discussion: "SIGINT or SIGTERM stops claiming, lets calls in flight finish, releases the rest and exits 0.")

    @OptionGroup var options: WorkerOptions
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        try database.requireCurrentSchema()
        let (pool, clients) = OutboxServices.workerPool(options.configuration, conninfo: database.conninfo, logger: Logger(label: "b24outbox.worker"))
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { pool.stop() }
            source.resume()
            return source
        }
        pool.run()
        signals.forEach { $0.cancel() }
        try clients.shutdown()
    }
}

/// How a worker pool delivers; shared by `worker` and `run`.
struct WorkerOptions: ParsableArguments {
    @Option(help: "Worker threads, each with its own database connection.") var concurrency = 4
    @Option(help: "Intents per Bitrix24 batch call (1 to 50; 1 sends one HTTP call per intent).") var batch = 50
    @Option(help: "Seconds a claim is held before another worker may take it over.") var lease = 120
    @Option(help: "Attempts before an intent is dead.") var maxAttempts = 10
    @Option(help: "Longest wait between attempts, in seconds.") var maxBackoff = 300
    @Flag(help: "Exit once nothing is pending or in flight.") var untilIdle = false
    @Option(help: "HTTP deadline per Bitrix24 call, in seconds.") var requestTimeout = 30

    func validate() throws {
        try requireRange(concurrency, 1...256, "--concurrency")
        guard (1...50).contains(batch) else { throw ValidationError("--batch must be between 1 and 50 (Bitrix24's batch limit)") }
        try requireRange(requestTimeout, 1...3_600, "--request-timeout", unit: " seconds")
        try requireRange(lease, 2...172_800, "--lease", unit: " seconds")
        guard lease >= 2 * requestTimeout else { throw ValidationError("--lease must be at least twice --request-timeout") }
        try requireRange(maxAttempts, 1...1_000, "--max-attempts")
        try requireRange(maxBackoff, 1...86_400, "--max-backoff", unit: " seconds")
    }

    /// The pool's configuration these options give.
    var configuration: WorkerPool.Configuration {
        var configuration = WorkerPool.Configuration()
        configuration.concurrency = concurrency
        configuration.batchSize = batch
        configuration.lease = .seconds(lease)
        configuration.retry = RetryPolicy(cap: .seconds(maxBackoff), maxAttempts: maxAttempts)
        configuration.untilIdle = untilIdle
        configuration.requestTimeout = .seconds(requestTimeout)
        return configuration
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Fold the log and compare it with the intents table; exit 1 on any mismatch.")
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let report = try Verifier().verify(on: try database.connect())
        if json {
            try printJSON(report)
        } else {
            for mismatch in report.mismatches { print(mismatch) }
            print(report.isConsistent
                ? "ok: \(report.intents - report.skipped) intents match their \(report.entries) log entries"
                : "\(report.mismatches.count) mismatches in \(report.intents) intents")
            if report.skipped > 0 {
                print("\(report.skipped) intents not checked: their history begins in archived log months (see outbox.log_archives)")
            }
        }
        if !report.isConsistent { throw ExitCode(1) }
    }
}
