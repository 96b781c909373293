import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox
import Postgres
import Synchronization

extension Bench {
    /// W4: how fast producers write intents: the bulk Swift API (one round trip and one
    /// transaction per call), and the SQL function as an application calls it, 100 per transaction.
    func producerWorkload() throws -> BenchReport.W4 {
        let database = try BenchDatabase(server: configuration.server, name: "b24outbox_bench_w4")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        // Producers need only the portal's row; nothing is delivered here, so nothing calls it.
        let credentials = try Bitrix24Credentials.webhook(
            URL(string: "https://bench.bitrix24.invalid/rest/1/\(UInt64.random(in: 1 ... .max))/")!)
        try PortalStore.add(PortalRegistration(name: "bench", credentials: credentials), on: db)

        let bulk = configuration.w4BulkIntents
        let producers = configuration.w4Producers
        let runs = configuration.w4Runs
        let conninfo = database.conninfo
        let batch = configuration.w4BulkBatch
        // Several runs, each with new intents, and the best counts, as for the drains: the
        // machine is shared, and one run can land on a slow moment.
        var bulkRuns: [Double] = []
        for run in 1...runs {
            let label = runs > 1 ? "w4 run \(run)/\(runs)" : "w4"
            progress("\(label): \(bulk.formatted()) intents through the bulk Swift API, \(batch) per call, \(producers) producer connections")
            let seconds = try inParallel(producers) { producer in
                let share = bulk / producers + (producer < bulk % producers ? 1 : 0)
                let connection = try Connection(conninfo)
                defer { connection.close() }
                try enqueueNotifications(share, keyPrefix: "w4-bulk-\(run)-\(producer)", batch: batch, on: connection)
            }
            bulkRuns.append(Double(bulk) / seconds)
            progress("\(label): \(Int(bulkRuns.last!).formatted()) intents/s")
        }

        let single = configuration.w4SQLIntents
        let perTransaction = 100
        progress("w4: \(single.formatted()) intents through outbox.enqueue_notification, \(perTransaction) per transaction")
        let sqlStarted = ContinuousClock.now
        var index = 0
        while index < single {
            let end = min(single, index + perTransaction)
            try db.transaction { db in
                for i in index..<end {
                    let intent = Self.notification(i, keyPrefix: "w4-sql")
                    try db.execute(
                        "SELECT outbox.enqueue_notification($1, $2, $3, p_key => $4)",
                        [intent.portal, intent.payload["USER_ID"]!.intValue!, intent.payload["MESSAGE"]!.stringValue!, intent.key!])
                }
            }
            index = end
        }
        let sqlSeconds = (ContinuousClock.now - sqlStarted).inSeconds
        let stored: Int64 = try db.query("SELECT count(*) FROM outbox.intents").first!.decode(0)
        guard stored == Int64(bulk * runs + single) else {
            throw BenchError("w4: \(stored) intents stored, expected \(bulk * runs + single)")
        }
        let result = BenchReport.W4(
            bulkApiIntents: bulk, bulkApiPerSecond: bulkRuns.max()!, bulkApiBatch: configuration.w4BulkBatch,
            bulkApiProducers: producers, bulkApiRunsPerSecond: bulkRuns,
            sqlFunctionIntents: single, sqlFunctionPerSecond: Double(single) / sqlSeconds, sqlFunctionTransaction: perTransaction)
        progress("w4: bulk API \(Int(result.bulkApiPerSecond).formatted())/s, SQL function \(Int(result.sqlFunctionPerSecond).formatted())/s")
        return result
    }

    /// Runs `body` on `count` threads at once; returns the wall time until the last one ends.
    private func inParallel(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws -> Double {
        let failures = Mutex<[any Error]>([])
        let group = DispatchGroup()
        let started = ContinuousClock.now
        for index in 0..<count {
            group.enter()
            Thread.detachNewThread {
                do { try body(index) } catch { failures.withLock { $0.append(error) } }
                group.leave()
            }
        }
        group.wait()
        if let failure = failures.withLock({ $0.first }) { throw failure }
        return (ContinuousClock.now - started).inSeconds
    }
}
