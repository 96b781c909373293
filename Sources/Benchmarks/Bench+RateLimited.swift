import Foundation
import Outbox
import Postgres

extension Bench {
    /// W2: Bitrix24's real bucket (50 requests, draining 2 per second) and 20 ms of latency at
    /// the portal. The ceiling is 2 requests/s × 50 commands = 100 intents per second.
    func rateLimitedWorkload() async throws -> BenchReport.W2 {
        let count = configuration.w2Intents
        let database = try BenchDatabase(server: configuration.server, name: "b24outbox_bench_w2")
        defer { database.drop() }
        let simulator = try await SimulatorProcess(
            executable: configuration.executable, options: ["--bucket", "50", "--drain", "2", "--latency-ms", "20"],
            log: log("w2-simulator"))
        defer { simulator.stop() }
        let db = try database.connect()
        defer { db.close() }
        try addPortal(to: db, simulator: simulator, bucket: 50, drain: 2)
        progress("w2: enqueuing \(count.formatted()) notifications")
        try enqueueNotifications(count, keyPrefix: "w2", on: db)

        progress("w2: delivering through the portal's rate limit (about \(count / 100 - 20) s)")
        let started = Date()
        let spawned = ContinuousClock.now
        let worker = try WorkerProcess(
            executable: configuration.executable, conninfo: database.conninfo,
            concurrency: configuration.concurrency, batch: 50, untilIdle: true, log: log("w2-worker"))
        // The burst the bucket allows is spent within the first seconds; from 10 s on it is steady.
        try await Task.sleep(until: spawned + .seconds(10), clock: .continuous)
        let steadyFrom = Date()
        let deliveredAtSteady = try deliveredCount(on: db)
        let limitedAtSteady = try await simulator.queryLimitExceeded()
        _ = try worker.waitUntilIdle(log: log("w2-worker"))

        let delivered = try deliveredCount(on: db)
        let last: Double = try db.query(
            "SELECT coalesce(extract(epoch FROM max(delivered_at)), 0)::float8 FROM outbox.intents").first!.decode(0)
        let limited = try await simulator.queryLimitExceeded()
        let steadySeconds = last - steadyFrom.timeIntervalSince1970
        let result = BenchReport.W2(
            intents: count, delivered: delivered, seconds: last - started.timeIntervalSince1970,
            steadyPerSecond: steadySeconds > 0 ? Double(delivered - deliveredAtSteady) / steadySeconds : 0,
            queryLimitExceeded: limited, queryLimitExceededAfter10S: limited - limitedAtSteady)
        progress("w2: \(delivered) delivered, \(String(format: "%.1f", result.steadyPerSecond))/s steady, \(limited) QUERY_LIMIT_EXCEEDED (\(result.queryLimitExceededAfter10S) after 10 s)")
        return result
    }
}
