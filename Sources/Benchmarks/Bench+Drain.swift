import Foundation
import Outbox
import Postgres

extension Bench {
    /// W1: intents already enqueued for one portal, a simulator with no rate limit and no
    /// latency; the time from the worker's start to its exit once nothing is left. Then the same
    /// with one HTTP call per intent, so queue cost and batching gain show separately.
    func drainWorkload() async throws -> BenchReport.W1 {
        let batched = try await drain(configuration.w1Intents, batch: 50, name: "w1")
        let unbatched = try await drain(configuration.unbatchedIntents, batch: 1, name: "w1-unbatched")
        return .init(
            intents: batched.intents, seconds: batched.seconds, intentsPerSecond: batched.intentsPerSecond,
            concurrency: batched.concurrency, peakRssMib: batched.peakRssMib, unbatched: unbatched)
    }

    /// One drain on a fresh database; `prepare` may fill it first (W5's history).
    func drain(
        _ count: Int, batch: Int, name: String, prepare: ((Connection, Int64) throws -> Void)? = nil
    ) async throws -> BenchReport.Drain {
        let database = try BenchDatabase(server: configuration.server, name: "b24outbox_bench_\(name.replacingOccurrences(of: "-", with: "_"))")
        defer { database.drop() }
        let simulator = try await SimulatorProcess(
            executable: configuration.executable, options: ["--no-rate-limit"], log: log("\(name)-simulator"))
        defer { simulator.stop() }
        let db = try database.connect()
        defer { db.close() }
        // The simulator has no limit, so neither has the portal's mirror of it.
        try addPortal(to: db, simulator: simulator, bucket: 1_000_000, drain: 1_000_000)
        if let prepare {
            let portalID: Int64 = try db.query("SELECT id FROM outbox.portals WHERE name = 'bench'").first!.decode(0)
            try prepare(db, portalID)
        }
        let before = try deliveredCount(on: db)
        progress("\(name): enqueuing \(count.formatted()) notifications")
        try enqueueNotifications(count, keyPrefix: name, on: db)
        progress("\(name): draining with \(configuration.concurrency) workers, batch \(batch)")
        let worker = try WorkerProcess(
            executable: configuration.executable, conninfo: database.conninfo,
            concurrency: configuration.concurrency, batch: batch, untilIdle: true, log: log("\(name)-worker"))
        let exit = try worker.waitUntilIdle(log: log("\(name)-worker"))
        let delivered = try deliveredCount(on: db) - before
        let created = Int(try await simulator.state()["effects"]?["notificationsCreated"]?.intValue ?? -1)
        guard delivered == count, created == count else {
            throw BenchError("\(name): \(delivered) of \(count) intents delivered, \(created) notifications created")
        }
        let seconds = exit.elapsed.seconds
        let result = BenchReport.Drain(
            intents: count, seconds: seconds, intentsPerSecond: Double(count) / seconds,
            concurrency: configuration.concurrency, batch: batch, peakRssMib: Double(exit.peakRSS) / 1_048_576)
        progress("\(name): \(Int(result.intentsPerSecond).formatted()) intents/s (\(String(format: "%.2f", seconds)) s, worker peak RSS \(String(format: "%.1f", result.peakRssMib)) MiB)")
        return result
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
