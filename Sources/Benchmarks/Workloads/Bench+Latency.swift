import Foundation
import Outbox
import Postgres

extension Bench {
    /// W3: one intent at a time into an idle worker pool; enqueue (commit) to delivered (the
    /// time the worker recorded the outcome), measured on the one machine clock.
    func latencyWorkload() async throws -> BenchReport.W3 {
        let database = try BenchDatabase(server: configuration.server, name: "b24outbox_bench_w3")
        defer { database.drop() }
        let simulator = try await SimulatorProcess(
            executable: configuration.executable, options: ["--no-rate-limit"], log: log("w3-simulator"))
        defer { simulator.stop() }
        let db = try database.connect()
        defer { db.close() }
        try addPortal(to: db, simulator: simulator, bucket: 1_000_000, drain: 1_000_000)
        let worker = try WorkerProcess(
            executable: configuration.executable, conninfo: database.conninfo,
            concurrency: configuration.concurrency, batch: 50, untilIdle: false, log: log("w3-worker"))
        defer { worker.stop() }

        let warmUp = 20
        progress("w3: \(configuration.w3Samples) intents one at a time (after \(warmUp) to warm up)")
        var latencies: [Double] = []
        for index in 0..<(warmUp + configuration.w3Samples) {
            let enqueued = Date()
            let id = try Producer.enqueue(Self.notification(index, keyPrefix: "w3"), on: db)
            let delivered = try waitForDelivery(of: id, on: db, timeout: 30)
            if index >= warmUp { latencies.append((delivered - enqueued.timeIntervalSince1970) * 1000) }
            // An idle pool between samples, as between real enqueues.
            try await Task.sleep(for: .milliseconds(5))
        }
        latencies.sort()
        let result = BenchReport.W3(
            samples: latencies.count, p50Ms: percentile(latencies, 0.50), p99Ms: percentile(latencies, 0.99),
            maxMs: latencies.last ?? 0)
        progress("w3: p50 \(String(format: "%.2f", result.p50Ms)) ms, p99 \(String(format: "%.2f", result.p99Ms)) ms, max \(String(format: "%.2f", result.maxMs)) ms")
        return result
    }

    /// Polls every half millisecond; returns `delivered_at` as seconds since 1970.
    private func waitForDelivery(of id: Int64, on db: Connection, timeout: Double) throws -> Double {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let rows = try db.query(
                "SELECT extract(epoch FROM delivered_at)::float8 FROM outbox.intents WHERE id = $1 AND delivered_at IS NOT NULL",
                [id])
            if let row = rows.first { return try row.decode(0) }
            Thread.sleep(forTimeInterval: 0.0005)
        }
        throw BenchError("w3: intent \(id) was not delivered within \(Int(timeout)) s")
    }
}

/// The nearest-rank percentile of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}
