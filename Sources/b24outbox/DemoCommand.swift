import ArgumentParser
import Dispatch
import Foundation
import OutboxDemo
import Synchronization

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The product end to end: a simulated portal with faults and rate limit, serve, workers, audit, replay.",
        discussion: """
            Without --database-url or DATABASE_URL, the demo runs its own PostgreSQL in a temporary folder \
            (initdb and pg_ctl of the installed PostgreSQL; as root, as the postgres user) and deletes it at \
            the end. With a database, it migrates it and writes one new portal (demo-TIME) with its intents, \
            log entries and events, which stay; its workers deliver only that portal's intents.
            Everything else runs in this process on loopback. SIGINT or SIGTERM stops it and cleans up.
            """)

    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "Use this PostgreSQL instead of a throw-away one (default: $DATABASE_URL).", valueName: "url"))
    var databaseURL: String?
    @Option(help: "Notifications to enqueue, those to unknown users included.") var notifications = 1000
    @Option(help: "Chats to enqueue.") var chats = 20
    @Option(name: .customLong("unknown-users"), help: "Notifications to users the portal does not have (they die; one is replayed).")
    var unknownUsers = 5
    @Option(name: .customLong("fault-rate"), help: "Share of Bitrix24 requests that fail, spread over every kind of fault.")
    var faultRate = 0.15
    // 8 draws every kind of fault within the default mix's few dozen requests.
    @Option(help: "Seed of the simulator's faults.") var seed: UInt64 = 8
    @Option(help: "Worker threads.") var workers = 4
    @Option(help: "Give up when delivery takes longer than this many seconds.") var timeout = 90

    func validate() throws {
        guard (1...100_000).contains(notifications) else { throw ValidationError("--notifications must be between 1 and 100000") }
        guard (0...1_000).contains(chats) else { throw ValidationError("--chats must be between 0 and 1000") }
        guard (0...notifications).contains(unknownUsers), unknownUsers <= 1000 else {
            throw ValidationError("--unknown-users must be between 0 and --notifications (at most 1000)")
        }
        guard (0...0.9).contains(faultRate) else { throw ValidationError("--fault-rate must be between 0 and 0.9") }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be between 1 and 64") }
        try requireRange(timeout, 1...86_400, "--timeout", unit: " seconds")
    }

    func run() async throws {
        var options = Demo.Options()
        options.notifications = notifications
        options.chats = chats
        options.unknownUsers = unknownUsers
        options.faultRate = faultRate
        options.seed = seed
        options.workers = workers
        options.databaseURL = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        options.deliveryTimeout = .seconds(timeout)
        let demo = Demo(options)

        let task = Task { try await demo.run() }
        let interrupted = InterruptFlag()
        let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                interrupted.set()
                task.cancel()
            }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        do {
            try await task.value
        } catch where interrupted.isSet {
            Demo.say("\nInterrupted: stopped everything and cleaned up.")
            throw ExitCode(130)
        }
    }
}

/// Set by the signal handler, read once the demo has cleaned up.
private final class InterruptFlag: Sendable {
    private let value = Atomic(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
