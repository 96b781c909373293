import Bitrix24Wire
import Foundation
import Outbox
import Postgres

extension Bench {
    /// W1: intents already enqueued for one portal, a simulator with no rate limit and no
    /// latency; the time from just before the worker starts until its last delivery is recorded
    /// (the worker's exit after it is reported apart). The best of
    /// `drainRuns` drains counts, as for the peers. Then the same with one HTTP call per intent,
    /// so queue cost and batching gain show separately, and a drain at the RSS concurrency.
    func drainWorkload() async throws -> (w1: BenchReport.W1, rss: BenchReport.RSS) {
        let runs = try await drain(
            configuration.w1Intents, batch: 50, concurrency: configuration.concurrency, runs: configuration.drainRuns,
            name: "w1")
        let best = runs.max { $0.intentsPerSecond < $1.intentsPerSecond }!
        let unbatched = try await drain(
            configuration.unbatchedIntents, batch: 1, concurrency: configuration.concurrency, runs: 1, name: "w1-unbatched")[0]
        let wide = try await drain(
            configuration.w1Intents, batch: 50, concurrency: configuration.rssConcurrency, runs: 1, name: "rss")[0]
        let w1 = BenchReport.W1(
            intents: best.intents, seconds: best.seconds, intentsPerSecond: best.intentsPerSecond,
            processSeconds: best.processSeconds, concurrency: best.concurrency, peakRssMib: best.peakRssMib,
            runsIntentsPerSecond: runs.map(\.intentsPerSecond), unbatched: unbatched)
        return (w1, .init(peakRssMib: wide.peakRssMib, concurrency: wide.concurrency, intentsPerSecond: wide.intentsPerSecond))
    }

    /// `runs` drains of `count` intents on one fresh database; `prepare` may fill it first (W5's
    /// history). Each drain enqueues its own intents, then starts a worker process and waits for it.
    func drain(
        _ count: Int, batch: Int, concurrency: Int, runs: Int, name: String,
        prepare: ((Connection, Int64) throws -> Void)? = nil
    ) async throws -> [BenchReport.Drain] {
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
        var results: [BenchReport.Drain] = []
        for run in 1...runs {
            let label = runs > 1 ? "\(name) run \(run)/\(runs)" : name
            let deliveredBefore = try deliveredCount(on: db)
            let createdBefore = try await simulator.counts().notificationsCreated
            progress("\(label): enqueuing \(count.formatted()) notifications")
            try enqueueNotifications(count, keyPrefix: "\(name)-\(run)", on: db)
            // Each drain starts from vacuumed tables, as the peers' do (PgQueuer's runs vacuum its
            // queue and its log): what the drains before it left (dead row versions, log pages
            // not yet vacuumed) is cleaned up here, not by autovacuum in the middle of the drain.
            try db.execute("VACUUM (ANALYZE) outbox.intents, outbox.intent_keys, outbox.log")
            progress("\(label): draining with \(concurrency) workers, batch \(batch)")
            // The drain runs from just before the worker starts until its last delivery is
            // recorded, both on the database's clock; the worker's exit after that is not counted.
            let started: Double = try db.query("SELECT extract(epoch FROM clock_timestamp())::float8").first!.decode(0)
            let worker = try WorkerProcess(
                executable: configuration.executable, conninfo: database.conninfo,
                concurrency: concurrency, batch: batch, untilIdle: true, log: log("\(name)-worker"))
            let exit = try worker.waitUntilIdle(log: log("\(name)-worker"))
            let delivered = try deliveredCount(on: db) - deliveredBefore
            let created = try await simulator.counts().notificationsCreated - createdBefore
            guard delivered == count, created == count else {
                throw BenchError("\(label): \(delivered) of \(count) intents delivered, \(created) notifications created")
            }
            let seconds = try lastDelivery(since: started, on: db) - started
            let result = BenchReport.Drain(
                intents: count, seconds: seconds, intentsPerSecond: Double(count) / seconds,
                processSeconds: exit.elapsed.inSeconds,
                concurrency: concurrency, batch: batch, peakRssMib: Double(exit.peakRSS) / 1_048_576)
            progress("\(label): \(Int(result.intentsPerSecond).formatted()) intents/s (\(String(format: "%.2f", seconds)) s; the worker exited at \(String(format: "%.2f", result.processSeconds)) s, peak RSS \(String(format: "%.1f", result.peakRssMib)) MiB)")
            results.append(result)
        }
        return results
    }

    /// When the last delivery since `since` was recorded (epoch seconds): its log entry's time,
    /// taken inside the statement that records it.
    func lastDelivery(since: Double, on db: Connection) throws -> Double {
        try db.query("""
            SELECT extract(epoch FROM max(recorded_at))::float8 FROM outbox.log
             WHERE type = 'delivery.succeeded' AND recorded_at >= to_timestamp($1)
            """, [since]).first!.decode(0)
    }

    /// Ends the checkpoint cycle of what was written before (W5's history), so that no drain meets
    /// a checkpoint forced by it; the drains then start from where W1's start.
    func checkpoint(_ db: Connection) throws {
        do {
            try db.execute("CHECKPOINT")
        } catch let error as PostgresError where error.code == .insufficientPrivilege {
            progress("note: this role may not CHECKPOINT (grant it pg_checkpoint); drains may meet a checkpoint")
        }
    }
}
