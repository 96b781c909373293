import Bitrix24
import Foundation
import Outbox
import Postgres

/// `b24outbox bench`: the workloads of docs/benchmarks.md, each against a fresh database of its
/// own, a simulator process and a worker process, as users run them.
public struct Bench: Sendable {
    public enum Workload: String, CaseIterable, Sendable {
        case w1, w2, w3, w4, w5, w6
    }

    public struct Configuration: Sendable {
        /// The PostgreSQL server (any database on it); the bench creates and drops its own.
        public var server: String
        /// This binary, which runs the simulator and the workers as child processes.
        public var executable: String
        /// Where the children's output goes.
        public var logDirectory: String
        public var workloads = Set(Workload.allCases)
        /// Worker threads of the worker process in W1, W2, W3 and W5. Default 4.
        public var concurrency = 4
        /// Worker threads of the drain whose peak memory is reported. Default 8.
        public var rssConcurrency = 8
        /// Drains of W1 and of W5; the best counts, as for the peers. Default 5.
        public var drainRuns = 5
        public var w1Intents = 50_000
        public var unbatchedIntents = 10_000
        public var w2Intents = 6_000
        public var w3Samples = 500
        public var w4BulkIntents = 200_000
        public var w4BulkBatch = 1_000
        /// Producer connections writing at once through the bulk API. Default 4.
        public var w4Producers = 4
        /// Runs of W4's bulk part, each with new intents; the best counts. Default 3.
        public var w4Runs = 3
        public var w4SQLIntents = 50_000
        public var w5LogEntries = 5_000_000
        public var w5DeliveredIntents = 1_000_000

        public init(server: String, executable: String, logDirectory: String) {
            self.server = server
            self.executable = executable
            self.logDirectory = logDirectory
        }
    }

    public let configuration: Configuration
    let progress: @Sendable (String) -> Void

    public init(configuration: Configuration, progress: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.progress = progress
    }

    /// Runs the chosen workloads in order, W1 to W6.
    public func run(command: String) async throws -> BenchReport {
        let probe = try Connection(configuration.server)
        var report = BenchReport(
            date: ISO8601DateFormatter().string(from: Date()), command: command,
            machine: try .current(postgres: probe))
        probe.close()
        let chosen = configuration.workloads
        if chosen.contains(.w1) {
            (report.w1, report.rss) = try await drainWorkload()
        }
        if chosen.contains(.w2) { report.w2 = try await rateLimitedWorkload() }
        if chosen.contains(.w3) { report.w3 = try await latencyWorkload() }
        if chosen.contains(.w4) { report.w4 = try producerWorkload() }
        if chosen.contains(.w5) {
            var w5 = try await growthWorkload()
            if let w1 = report.w1 { w5.relativeToW1 = w5.intentsPerSecond / w1.intentsPerSecond }
            report.w5 = w5
        }
        if chosen.contains(.w6) { report.w6 = eventBodyWorkload() }
        return report
    }

    // MARK: - Shared steps

    func log(_ name: String) -> String {
        "\(configuration.logDirectory)/\(name).log"
    }

    /// A portal named `bench` pointing at the simulator, with the rate the simulator enforces.
    func addPortal(to db: Connection, simulator: SimulatorProcess, bucket: Int, drain: Double) throws {
        let credentials = try Bitrix24Credentials.webhook(simulator.webhookURL, allowInsecureHTTP: true)
        try PortalStore.add(
            PortalRegistration(name: "bench", credentials: credentials, rateBucket: bucket, rateDrain: drain), on: db)
    }

    /// Enqueues `count` personal notifications through the bulk Swift API, `batch` per call.
    func enqueueNotifications(_ count: Int, keyPrefix: String, batch: Int = 1_000, on db: Connection) throws {
        var next = 0
        while next < count {
            let chunk = (next..<min(count, next + batch)).map { Self.notification($0, keyPrefix: keyPrefix) }
            _ = try Producer.enqueue(chunk, on: db)
            next += chunk.count
        }
    }

    /// A realistic personal notification: a few dozen characters of text to one of 1,000 users.
    static func notification(_ index: Int, keyPrefix: String) -> NewIntent {
        .notification(
            portal: "bench", user: Int64(1 + index % 1000),
            message: "Order #\(100_000 + index) has shipped and will arrive on Thursday. Track it in your account.",
            key: "\(keyPrefix)-\(index)")
    }

    func deliveredCount(on db: Connection) throws -> Int {
        Int(try db.query("SELECT count(*) FROM outbox.intents WHERE status = 'delivered'").first!.decode(0, as: Int64.self))
    }
}
