import ArgumentParser
import Foundation
import Outbox
import Postgres

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the pending schema migrations (safe to run concurrently).",
        discussion: """
            Applies the numbered migrations not applied yet, then each file of sql/functions whose \
            text the database does not have. With --status, list every migration and function file \
            and whether it is applied, and change nothing (--json lists the migrations, or with \
            --functions the function files).
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "List migrations and their state instead of applying them.")
    var status = false

    @Flag(help: "Print machine-readable JSON (with --status).")
    var json = false

    @Flag(help: "With --status --json, list the function files instead of the migrations.")
    var functions = false

    func run() throws {
        let db = try database.connect()
        let migrator = Migrator()
        if status {
            let statuses = try migrator.status(on: db)
            let functionStatuses = try migrator.functionStatus(on: db)
            if json {
                try printJSON(functions ? functionStatuses : statuses)
            } else {
                for entry in statuses + functionStatuses {
                    let when = entry.appliedAt.map { "  \($0)" } ?? ""
                    print("\(entry.state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(entry.name)\(when)")
                }
            }
            if statuses.contains(where: { $0.state == .changed || $0.state == .unknown }) {
                throw ExitCode(1)
            }
            return
        }
        let run = try migrator.run(on: db)
        if run.migrations.isEmpty && run.functions.isEmpty {
            print("Schema is up to date (\(migrator.migrations.count) migrations and \(migrator.functions.count) function files applied).")
        } else {
            for name in run.migrations + run.functions { print("applied \(name)") }
        }
        do {
            for partition in try LogPartitions.ensure(on: db) { print("created log partition \(partition)") }
        } catch let error as PostgresError where error.code == .lockNotAvailable {
            // Months ahead exist already, and the default partition takes any append meanwhile.
            FileHandle.standardError.write(Data(
                "warning: the log is busy, so its next months were not created now; the maintenance of a running worker or serve creates them within the hour\n".utf8))
        }
    }
}
