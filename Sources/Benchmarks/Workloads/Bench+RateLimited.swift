import Bitrix24Wire
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

        progress("w2: delivering through the portal's rate limit (about \(max(10, count / 100 - 25)) s)")
        let spawned = ContinuousClock.now
        let worker = try WorkerProcess(
            executable: configuration.executable, conninfo: database.conninfo,
            concurrency: configuration.concurrency, batch: 50, untilIdle: true, log: log("w2-worker"))
        // Counted where it happens, at the portal, twice a second: the worker records a claim's
        // outcomes after all its calls, so its own count lags the portal's. The burst the bucket
        // allows is spent within the first seconds; from 10 s on the rate is steady.
        var steadyStart: (at: Duration, created: Int, limited: Int)?
        var allCreated: Duration?
        while !worker.hasExited {
            try await Task.sleep(for: .milliseconds(500))
            let elapsed = ContinuousClock.now - spawned
            let counts = try await simulator.counts()
            if steadyStart == nil, elapsed >= .seconds(10) {
                steadyStart = (elapsed, counts.notificationsCreated, counts.queryLimitExceeded)
            }
            if allCreated == nil, counts.notificationsCreated >= count { allCreated = elapsed }
        }
        _ = try worker.waitUntilIdle(log: log("w2-worker"))

        let delivered = try deliveredCount(on: db)
        let final = try await simulator.counts()
        let created = final.notificationsCreated, limited = final.queryLimitExceeded
        let end = allCreated ?? (ContinuousClock.now - spawned)
        var steady = 0.0
        if let steadyStart, end > steadyStart.at {
            steady = Double(min(created, count) - steadyStart.created) / (end - steadyStart.at).inSeconds
        }
        let result = BenchReport.W2(
            intents: count, delivered: delivered, seconds: end.inSeconds, steadyPerSecond: steady,
            queryLimitExceeded: limited, queryLimitExceededAfter10S: limited - (steadyStart?.limited ?? limited))
        progress("w2: \(delivered) delivered, \(String(format: "%.1f", result.steadyPerSecond))/s steady, \(limited) QUERY_LIMIT_EXCEEDED (\(result.queryLimitExceededAfter10S) after 10 s)")
        return result
    }
}
