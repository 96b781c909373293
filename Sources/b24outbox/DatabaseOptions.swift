import ArgumentParser
import Foundation
import Outbox
import Postgres

/// `--database-url`, else `DATABASE_URL`, else libpq's own defaults (`PGHOST`, `PGPORT`, …).
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "PostgreSQL URI or conninfo string (default: $DATABASE_URL, else libpq's PG* variables).",
        valueName: "url"))
    var databaseURL: String?

    var conninfo: String {
        databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
    }

    func connect() throws -> Connection {
        do {
            return try Connection(conninfo)
        } catch let error as PostgresError {
            throw CLIError("cannot connect to PostgreSQL: \(error.message). Check --database-url or DATABASE_URL.")
        }
    }

    /// Fails fast with a clear message when the database is unreachable or not migrated.
    func requireCurrentSchema() throws {
        let probe = try connect()
        defer { probe.close() }
        guard try Migrator().isCurrent(on: probe) else {
            throw CLIError("the database schema is not current: run b24outbox migrate first")
        }
    }
}
