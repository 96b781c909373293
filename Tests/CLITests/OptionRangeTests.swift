import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// Values that parse but make no sense are refused where they are read, with the option and its
/// range named, before anything runs or is written.
@Suite("Option ranges", .enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct OptionRangeTests {
    @Test("every numeric option outside its range is a usage error naming it, and nothing is written")
    func refusals() async throws {
        let (scratch, db) = try migratedDatabase()
        let portal = ["portal", "add", "p2", "--url", "https://p2.bitrix24.com/rest/1/c0dec0dec0de/"]
        let cases: [(arguments: [String], says: String)] = [
            (portal + ["--rate-drain", "1e-300"], "--rate-drain must be between 0.01 and"),
            (portal + ["--rate-drain", "nan"], "--rate-drain must be between"),
            (portal + ["--rate-drain", "inf"], "--rate-drain must be between"),
            (portal + ["--rate-drain", "0"], "--rate-drain must be between"),
            (portal + ["--rate-bucket", "0"], "--rate-bucket must be between 1 and"),
            (portal + ["--rate-bucket", "2000000000"], "--rate-bucket must be between"),
            (["portal", "add", "p3", "--url", "https://p3.bitrix24.com", "--token", "an-access-token", "--token-expires-in", "0"],
             "--token-expires-in must be between 1 and 31536000"),
            (["portal", "set-tokens", "p2", "--token", "an-access-token", "--refresh-token", "a-refresh-token",
              "--token-expires-in", "99999999999"], "--token-expires-in must be between"),
            (["worker", "--concurrency", "0"], "--concurrency must be between 1 and 256"),
            (["worker", "--concurrency", "100000"], "--concurrency must be between"),
            (["worker", "--request-timeout", "0"], "--request-timeout must be between 1 and 3600"),
            (["worker", "--lease", "999999999"], "--lease must be between"),
            (["worker", "--max-attempts", "0"], "--max-attempts must be between 1 and 1000"),
            (["worker", "--max-backoff", "0"], "--max-backoff must be between 1 and 86400"),
            (["serve", "--max-event-fields", "0"], "--max-event-fields must be between 1 and 100000"),
            (["serve", "--database-connections", "0"], "--database-connections must be between 1 and 256"),
            (["serve", "--port", "70000"], "--port must be between 0 and 65535"),
            (["log", "--limit", "0"], "--limit must be between 1 and 1000000"),
            (["log", "--limit=-5"], "--limit must be between"),
            (["events", "pull", "--portal", "main", "--interval", "0"], "--interval must be between 1 and 86400"),
        ]
        let before = try Self.counts(db)
        for c in cases {
            let output = try await CLI.runDetached(c.arguments + ["--database-url", scratch.conninfo])
            #expect(output.status != 0, "\(c.arguments) was accepted")
            #expect(output.stderr.contains(c.says), "\(c.arguments): \(output.stderr)")
        }
        for (arguments, says) in [
            (["simulate", "serve", "--drain", "1e-300"], "--drain must be between 0.01 and"),
            (["simulate", "serve", "--bucket", "0"], "--bucket must be between 1 and"),
            (["simulate", "serve", "--latency-ms=-1"], "--latency-ms must be between 0 and"),
            (["simulate", "serve", "--token-lifetime", "0"], "--token-lifetime must be between 1 and"),
        ] {
            let output = try await CLI.runDetached(arguments)
            #expect(output.status != 0, "\(arguments) was accepted")
            #expect(output.stderr.contains(says), "\(arguments): \(output.stderr)")
        }
        #expect(try Self.counts(db) == before)
    }

    @Test("the library refuses the same rates a caller of PortalStore.add passes")
    func libraryRefusesRates() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        for (bucket, drain) in [(50, 1e-300), (50, Double.nan), (50, Double.infinity), (0, 2.0), (-1, 2.0)] {
            #expect(throws: PortalStore.PortalError.self, "bucket \(bucket), drain \(drain)") {
                try PortalStore.add(PortalRegistration(
                    name: "p2", credentials: try .webhook(URL(string: "https://p2.bitrix24.com/rest/1/c0dec0dec0de/")!),
                    rateBucket: bucket, rateDrain: drain), on: db)
            }
        }
        #expect(try db.query("SELECT count(*) FROM outbox.portals WHERE name = 'p2'").first!.decode(0, as: Int.self) == 0)
    }

    static func counts(_ db: Connection) throws -> [Int] {
        try ["portals", "intents", "log"].map { try db.query("SELECT count(*) FROM outbox.\($0)").first!.decode(0) }
    }
}
