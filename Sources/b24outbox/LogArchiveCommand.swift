import ArgumentParser
import Foundation
import Outbox

struct LogArchiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Archive whole months of the log to files, then drop them from the database.",
        discussion: "Every month before --before (never the current one) is written to DIR/log_YYYY_MM.copy "
            + "(COPY text: seq, recorded_at, stream, type, intent_id, portal_id, data) with a sha256sum line beside it, "
            + "flushed and read back; then one transaction appends a log.archived entry, records the month in "
            + "outbox.log_archives, and detaches and drops its partition. No row is ever updated or deleted. "
            + "Run it as the role that runs migrate.\n\n"
            + "Example: b24outbox log archive --before 2026-06 --to /var/backups/b24outbox --dry-run")

    @Option(help: ArgumentHelp("Archive the months before this one (YYYY-MM, at most the current month).", valueName: "YYYY-MM"))
    var before: String
    @Option(help: ArgumentHelp("An existing, writable directory for the archive files.", valueName: "DIR"))
    var to: String
    @Flag(help: "List what would be archived and change nothing.") var dryRun = false
    @OptionGroup var output: JSONOutput
    @OptionGroup var database: DatabaseOptions
    var json: Bool { output.json }

    func validate() throws {
        guard LogMonth(before) != nil else {
            throw ValidationError("--before must be a month as YYYY-MM, such as 2026-06")
        }
        guard !to.isEmpty else { throw ValidationError("--to must name a directory") }
    }

    func run() throws {
        let archiver = LogArchiver(before: LogMonth(before)!, directory: URL(fileURLWithPath: to, isDirectory: true))
        let db = try database.connect()
        let months: [LogArchiver.Month]
        do {
            months = dryRun
                ? try archiver.plan(on: db)
                : try archiver.archive(on: db) { month in if !json { print(Self.line(month, dryRun: false)) } }
        } catch let error as LogArchiver.ArchiveError {
            throw CLIError("\(error.description) (nothing more was archived)")
        }
        if json {
            return try printJSON(["dry_run": AnyEncodable(dryRun), "months": AnyEncodable(months)])
        }
        if dryRun { months.forEach { print(Self.line($0, dryRun: true)) } }
        let rows = months.reduce(0) { $0 + $1.rows }
        print("\(dryRun ? "would archive" : "archived") \(months.count) months, \(rows) entries, to \(archiver.directory.path)")
    }

    static func line(_ month: LogArchiver.Month, dryRun: Bool) -> String {
        let seqs = month.firstSeq.map { "seq \($0)–\(month.lastSeq ?? $0)" } ?? "empty"
        let checksum = month.sha256.map { "  sha256 \($0)" } ?? ""
        return "\(month.month)\t\(month.partition)\t\(month.rows) entries\t\(seqs)\t\(month.file)\(checksum)"
    }
}

/// Lets one JSON object hold values of different types.
private struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
