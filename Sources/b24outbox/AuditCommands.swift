import ArgumentParser
import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Show the audit log: what was sent, to whom, and what Bitrix24 answered.",
        discussion: """
            Output: on a terminal, human lines (one intent's timeline; one line per intent for --user, --portal \
            or --tag); into a pipe or file, plain tab-separated lines (seq, time, stream, type, data as JSON). \
            --format chooses.

            Examples: b24outbox log --intent 97   |   b24outbox log --user 10 --since 2026-11-16T00:00:00Z
            """,
        subcommands: [LogArchiveCommand.self])

    @Option(help: "One intent's full timeline.") var intent: Int64?
    @Option(help: "Only this portal.") var portal: String?
    @Option(help: "An entry type (delivery.failed) or family (delivery).") var type: String?
    @Option(help: "From this RFC 3339 time.") var since: String?
    @Option(help: "Before this RFC 3339 time.") var until: String?
    @Option(help: "Intents addressed to this user id.") var user: Int64?
    @Option(help: "The chat with this id (its creation and its events).") var chat: Int64?
    @Option(help: "Notifications with this TAG.") var tag: String?
    @Option(help: "The intent with this idempotency key.") var key: String?
    @Option(help: "At most this many entries (intents, for one line per intent).") var limit = 1000
    @Option(help: ArgumentHelp(
        "human lines (the default on a terminal), plain tab-separated ones (the default otherwise), or json (as --json).",
        valueName: "format"))
    var format: LogFormat?
    @Flag(help: "With --user, --portal or --tag in human form: every entry, not one line per intent.") var entries = false
    @Flag(help: "Print every entry, then each new one as it commits (with --json, one entry per line).") var follow = false
    @OptionGroup var output: JSONOutput
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        try requireRange(limit, 1...1_000_000, "--limit")
        if output.json, let format, format != .json {
            throw ValidationError("--json and --format \(format.rawValue) disagree; give one of them")
        }
    }

    /// --format, else --json, else human lines for a person at a terminal and plain ones for a script.
    var chosenFormat: LogFormat {
        format ?? (output.json ? .json : isatty(STDOUT_FILENO) == 1 ? .human : .plain)
    }

    func run() throws {
        var filter = AuditLog.Filter()
        filter.intentID = intent
        filter.portal = portal
        filter.type = type
        filter.since = try since.map { try RFC3339.option($0, named: "--since") }
        filter.until = try until.map { try RFC3339.option($0, named: "--until") }
        filter.user = user
        filter.chat = chat
        filter.tag = tag
        filter.key = key
        filter.limit = limit
        let format = chosenFormat
        let db = try database.connect()
        if !follow {
            if format == .human && filter.spansIntents && !entries {
                let intents = try AuditLog.intents(filter, on: db)
                if intents.isEmpty { print("no intents match (--entries shows every entry)") }
                intents.forEach { print(LogTimeline.line($0)) }
                return
            }
            let entries = try AuditLog.entries(filter, on: db)
            if format == .json { return try printJSON(entries) }
            if entries.isEmpty { print("no log entries match") }
            (format == .human ? LogTimeline.lines(entries) : entries.map(LogTimeline.plain)).forEach { print($0) }
            return
        }
        // Every entry once, those committed out of seq order included (AuditLog.Follower).
        var follower = AuditLog.Follower(filter: filter)
        while true {
            for entry in try follower.poll(on: db) {
                switch format {
                case .json: print(entry.compactJSON)
                case .plain: print(LogTimeline.plain(entry))
                case .human: print(LogTimeline.line(entry))
                }
            }
            fflush(nil)  // a pipe reader sees each entry at once
            if !follower.hasMore { Thread.sleep(forTimeInterval: 0.5) }
        }
    }
}

enum LogFormat: String, CaseIterable, ExpressibleByArgument {
    case human, plain, json
}

/// `--json`, shared by `log` and `log archive` (an option declared by both a command and its
/// subcommand reaches both only through one option group).
struct JSONOutput: ParsableArguments {
    @Flag(help: "Print JSON.") var json = false
}

extension AuditLog.Entry {
    var compactJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

extension RFC3339 {
    /// The time an option gives, or a clear refusal naming it.
    static func option(_ text: String, named option: String) throws -> Date {
        guard let date = date(from: text) else {
            throw ValidationError("\(option) must be an RFC 3339 time such as 2026-11-16T00:00:00Z")
        }
        return date
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Intents by status and portal, queue age, recent deliveries, dead intents by error.")
    @Option(help: "Only this portal.") var portal: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let stats = try Stats.read(portal: portal, on: try database.connect())
        if json { return try printJSON(stats) }
        stats.lines.forEach { print($0) }
    }
}

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Deliver intents again (dead by default), still idempotently.",
        discussion: "Examples: b24outbox replay 42 43   |   b24outbox replay --error ACCESS_DENIED --portal main --dry-run")
    @Argument(help: "Intent ids (or use the filters).") var ids: [Int64] = []
    @Option(help: "Statuses to replay: dead, cancelled, delivered (repeatable).") var status: [IntentStatus] = [.dead]
    @Option(help: "Only this portal.") var portal: String?
    @Option(help: "Only this kind: chat.create, notify.personal, notify.system.") var kind: IntentKind?
    @Option(help: "Only intents whose last error has this Bitrix24 code.") var error: String?
    @Option(help: "Only intents changed since this RFC 3339 time.") var since: String?
    @Flag(help: "List what would be replayed and change nothing.") var dryRun = false
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let selection = IntentStore.ReplaySelection(
            ids: ids.isEmpty ? nil : ids, statuses: status, portal: portal, kind: kind, errorCode: error,
            since: try since.map { try RFC3339.option($0, named: "--since") })
        let replayed = try IntentStore.replay(selection, by: "cli", dryRun: dryRun, on: try database.connect())
        if json { return try printJSON(["dry_run": .bool(dryRun), "intents": JSONValue.array(replayed.map { .int($0) })]) }
        let verb = dryRun ? "would replay" : "replayed"
        print("\(verb) \(replayed.count) intents\(replayed.isEmpty ? "" : ": " + replayed.map(String.init).joined(separator: " "))")
    }
}

extension IntentStatus: ExpressibleByArgument {}
extension IntentKind: ExpressibleByArgument {}
