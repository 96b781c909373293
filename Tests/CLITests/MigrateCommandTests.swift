import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct MigrateCommandTests {
    let scratch: ScratchDatabase

    init() throws {
        scratch = try ScratchDatabase()
    }

    @Test func migrateThenStatusThroughTheCLI() throws {
        let first = try CLI.run(["migrate", "--database-url", scratch.conninfo])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("applied 001_init.sql"))

        let again = try CLI.run(["migrate"], environment: ["DATABASE_URL": scratch.conninfo])
        #expect(again.status == 0)
        #expect(again.stdout.contains("up to date"))

        let status = try CLI.run(["migrate", "--status", "--json", "--database-url", scratch.conninfo])
        #expect(status.status == 0)
        let entries = try JSONDecoder().decode([MigrationStatus].self, from: Data(status.stdout.utf8))
        #expect(entries.map(\.name) == Migration.bundled.map(\.name))
        #expect(entries.allSatisfy { $0.state == .applied })
    }

    @Test func unreachableDatabaseIsAClearError() throws {
        let output = try CLI.run(["migrate", "--database-url", "postgresql://nobody@127.0.0.1:1/none"])
        #expect(output.status != 0)
        #expect(output.stderr.contains("cannot connect to PostgreSQL"))
        #expect(output.stderr.contains("DATABASE_URL"))
    }

    @Test("a database URL libpq cannot parse, or cannot reach, is an error that never prints its password",
          arguments: ["postgresql://u:PASSWORD-4c3b2a@[::1/db", "postgresql://u:PASSWORD-4c3b2a@127.0.0.1:1/db"])
    func passwordNeverPrinted(url: String) throws {
        let output = try CLI.run(["migrate", "--database-url", url], extraSecrets: ["PASSWORD-4c3b2a", "4c3b2a"])
        #expect(output.status != 0)
        #expect(output.stderr.contains("cannot connect to PostgreSQL"), "\(output.stderr)")
    }
}
