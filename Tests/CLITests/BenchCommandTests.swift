import Foundation
import Postgres
import Testing
import TestSupport

/// `b24outbox bench` end to end at a tiny size: it runs every workload against real child
/// processes and writes a complete report. No figure is judged here: speed is not a test.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct BenchCommandTests {
    @Test func runsEveryWorkloadAndWritesACompleteReport() async throws {
        let server = try #require(TestEnvironment.databaseURL)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = directory.appendingPathComponent("report.json")
        let output = try await CLI.runDetached([
            "bench", "--database-url", server, "--json", report.path, "--log-dir", directory.path,
            "--runs", "2", "--concurrency", "2", "--rss-concurrency", "3",
            "--w1-intents", "300", "--unbatched-intents", "40", "--w2-intents", "120", "--w3-samples", "10",
            "--w4-intents", "500", "--w4-batch", "100", "--w4-producers", "2", "--w4-runs", "2", "--w4-sql-intents", "200",
            "--w5-intents", "1000", "--w5-log-entries", "4000",
        ])
        #expect(output.status == 0, "\(output.stderr)")
        for line in ["W1 drain", "W2 rate-limited", "W3 latency", "W4 bulk Swift API", "W5 drain", "W6 event body", "Worker peak RSS"] {
            #expect(output.stdout.contains(line), "the table has no \(line) line: \(output.stdout)")
        }

        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        let w1 = try #require(json["w1"] as? [String: Any])
        #expect(w1["intents"] as? Int == 300)
        #expect((w1["runs_intents_per_second"] as? [Double])?.count == 2)
        #expect((w1["unbatched"] as? [String: Any])?["batch"] as? Int == 1)
        // The drain ends at its last delivery; the worker exits after it.
        let (drainSeconds, processSeconds) = (try #require(w1["seconds"] as? Double), try #require(w1["process_seconds"] as? Double))
        #expect(drainSeconds > 0 && drainSeconds <= processSeconds)
        let w2 = try #require(json["w2"] as? [String: Any])
        #expect(w2["delivered"] as? Int == 120)
        #expect(w2["query_limit_exceeded_after_10s"] as? Int == 0)
        #expect((json["w3"] as? [String: Any])?["samples"] as? Int == 10)
        let w4 = try #require(json["w4"] as? [String: Any])
        #expect(w4["bulk_api_intents"] as? Int == 500)
        #expect(w4["sql_function_intents"] as? Int == 200)
        // Two runs of the bulk part, and the best of them is the figure.
        let bulkRuns = try #require(w4["bulk_api_runs_per_second"] as? [Double])
        #expect(bulkRuns.count == 2)
        #expect(w4["bulk_api_per_second"] as? Double == bulkRuns.max())
        let w5 = try #require(json["w5"] as? [String: Any])
        #expect(w5["log_entries"] as? Int == 4000)
        #expect(w5["relative_to_w1"] is Double)
        let w6 = try #require(json["w6"] as? [String: Any])
        #expect((w6["milliseconds"] as? [String: Double])?.keys.sorted()
            == ["appends", "deep_appends", "deep_keys", "distinct_keys", "json_chains", "json_objects", "nested_appends", "wide_group",
                "worst_accepted"])
        #expect((w6["slowest_ms"] as? Double).map { $0 > 0 } == true)
        let rss = try #require(json["rss"] as? [String: Any])
        #expect(rss["concurrency"] as? Int == 3)
        // A worker's size, read while it ran (a zero would mean it was never sampled).
        #expect((rss["peak_rss_mib"] as? Double).map { $0 > 5 && $0 < 1024 } == true)

        // Every database the bench made is gone.
        let admin = try Connection(server)
        let left: Int64 = try admin.query("SELECT count(*) FROM pg_database WHERE datname LIKE 'b24outbox_bench%'").first!.decode(0)
        #expect(left == 0)
    }

    @Test func refusesBadOptionsBeforeTouchingTheServer() async throws {
        for arguments in [["--only", "w9"], ["--runs", "0"], ["--w5-intents", "10", "--w5-log-entries", "5"]] {
            let output = try await CLI.runDetached(["bench", "--database-url", "postgresql://nobody@127.0.0.1:1/none"] + arguments)
            #expect(output.status == 64, "\(arguments): \(output.stderr)")
        }
    }
}
