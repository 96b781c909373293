import Foundation

extension BenchReport {
    /// The report as people read it: one line per figure, with the target it must meet.
    public func table() -> String {
        var rows: [(String, String, String)] = []
        func add(_ name: String, _ value: String, _ target: String = "") { rows.append((name, value, target)) }
        if let w1 {
            add("W1 drain, batch 50 (\(w1.intents.formatted()) intents, \(w1.concurrency) workers, best of \(w1.runsIntentsPerSecond.count))",
                "\(rate(w1.intentsPerSecond)) intents/s", check(w1.intentsPerSecond >= 13_000, "≥ 13,000/s"))
            add("W1 drain, one HTTP call per intent (\(w1.unbatched.intents.formatted()))",
                "\(rate(w1.unbatched.intentsPerSecond)) intents/s")
        }
        if let w2 {
            add("W2 rate-limited, steady (\(w2.delivered.formatted()) of \(w2.intents.formatted()) delivered)",
                "\(String(format: "%.1f", w2.steadyPerSecond)) /s",
                check(w2.steadyPerSecond >= 95 && w2.delivered == w2.intents, "≥ 95/s, all delivered"))
            add("W2 QUERY_LIMIT_EXCEEDED (after the first 10 s)",
                "\(w2.queryLimitExceeded) (\(w2.queryLimitExceededAfter10S))", check(w2.queryLimitExceededAfter10S == 0, "0 after 10 s"))
        }
        if let w3 {
            add("W3 latency p50 / p99 / max (\(w3.samples) samples)",
                String(format: "%.2f / %.2f / %.2f ms", w3.p50Ms, w3.p99Ms, w3.maxMs),
                check(w3.p50Ms <= 5 && w3.p99Ms <= 10, "p50 ≤ 5, p99 ≤ 10 ms"))
        }
        if let w4 {
            add("W4 bulk Swift API (\(w4.bulkApiBatch.formatted()) per call, \(w4.bulkApiProducers) producers, best of \(w4.bulkApiRunsPerSecond.count))",
                "\(rate(w4.bulkApiPerSecond)) intents/s",
                check(w4.bulkApiPerSecond >= 80_000, "≥ 80,000/s"))
            add("W4 SQL function (\(w4.sqlFunctionTransaction) per transaction)", "\(rate(w4.sqlFunctionPerSecond)) intents/s")
        }
        if let w5 {
            let relative = w5.relativeToW1.map { String(format: " (%.0f%% of W1)", $0 * 100) } ?? ""
            add("W5 drain over \(w5.logEntries.formatted()) log entries, \(w5.deliveredIntents.formatted()) intents",
                "\(rate(w5.intentsPerSecond)) intents/s\(relative)",
                w5.relativeToW1.map { check($0 >= 0.9, "within 10% of W1") } ?? "")
        }
        if let w6 {
            add("W6 event body decoding, slowest hostile 1 MiB body (\(w6.milliseconds.count) bodies; genuine \(String(format: "%.2f", w6.genuineMs)) ms)",
                String(format: "%.2f ms", w6.slowestMs), check(w6.slowestMs < 100, "< 100 ms"))
        }
        if let rss {
            add("Worker peak RSS (W1 drain at concurrency \(rss.concurrency): \(rate(rss.intentsPerSecond))/s)",
                String(format: "%.1f MiB", rss.peakRssMib),
                check(rss.peakRssMib <= 64, "≤ 64 MiB"))
        }
        let widths = (rows.map(\.0.count).max() ?? 0, rows.map(\.1.count).max() ?? 0)
        var text = "b24outbox bench, \(date), \(machine.cpus) CPUs (\(machine.model)), PostgreSQL \(machine.postgres), \(machine.build) build\n"
        for (name, value, target) in rows {
            text += name.padding(toLength: widths.0 + 2, withPad: " ", startingAt: 0)
                + value.padding(toLength: widths.1 + 2, withPad: " ", startingAt: 0) + target + "\n"
        }
        return text
    }

    private func rate(_ value: Double) -> String {
        Int(value.rounded()).formatted()
    }

    private func check(_ met: Bool, _ target: String) -> String {
        "\(met ? "met" : "MISSED"): \(target)"
    }
}
