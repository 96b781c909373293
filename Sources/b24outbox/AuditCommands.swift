import ArgumentParser
import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Show the audit log: what was sent, to whom, and what Bitrix24 answered.",
        discussion: "Example: b24outbox log --user 10 --since 2026-11-16T00:00:00Z",
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
    @Option(help: "At most this many entries.") var limit = 1000
    @Flag(help: "Print every entry, then each new one as it commits (with --json, one entry per line).") var follow = false
    @OptionGroup var output: JSONOutput
    @OptionGroup var database: DatabaseOptions
    var json: Bool { output.json }

    func validate() throws {
        try requireRange(limit, 1...1_000_000, "--limit")
    }

    func run() throws {
        var filter = AuditLog.Filter()
        filter.intentID = intent
        filter.portal = portal
        filter.type = type
        filter.since = try since.map { try parseTime($0, option: "--since") }
        filter.until = try until.map { try parseTime($0, option: "--until") }
        filter.user = user
        filter.chat = chat
        filter.tag = tag
        filter.key = key
        filter.limit = limit
        let db = try database.connect()
        if !follow {
            let entries = try AuditLog.entries(filter, on: db)
            if json { return try printJSON(entries) }
            if entries.isEmpty { print("no log entries match") }
            entries.forEach { print(Self.line($0)) }
            return
        }
        // Every entry once, those committed out of seq order included (AuditLog.Follower).
        var follower = AuditLog.Follower(filter: filter)
        while true {
            for entry in try follower.poll(on: db) {
                print(json ? entry.compactJSON : Self.line(entry))
            }
            fflush(nil)  // a pipe reader sees each entry at once
            if !follower.hasMore { Thread.sleep(forTimeInterval: 0.5) }
        }
    }

    static func line(_ entry: AuditLog.Entry) -> String {
        let time = entry.recordedAt.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        return "\(entry.seq)\t\(time)\t\(entry.stream)\t\(entry.type)\t\(entry.data.jsonString)"
    }
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

func parseTime(_ text: String, option: String) throws -> Date {
    let plain = ISO8601DateFormatter()
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    guard let date = plain.date(from: text) ?? fractional.date(from: text) else {
        throw ValidationError("\(option) must be an RFC 3339 time such as 2026-11-16T00:00:00Z")
    }
    return date
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
        Self.lines(stats).forEach { print($0) }
    }

    static func lines(_ stats: Stats) -> [String] {
        var lines = ["intents:"]
        if stats.intents.isEmpty { lines.append("  none") }
        for c in stats.intents { lines.append("  \(c.portal)\t\(c.status)\t\(c.count)") }
        lines.append("oldest pending: \(stats.oldestPendingAgeSeconds.map { String(format: "%.1f s", $0) } ?? "none")")
        lines.append("last minute: \(stats.deliveredLastMinute) delivered, \(stats.failedLastMinute) failed attempts")
        if !stats.deadByError.isEmpty {
            lines.append("dead by error:")
            for d in stats.deadByError { lines.append("  \(d.error)\t\(d.count)") }
        }
        return lines
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
            since: try since.map { try parseTime($0, option: "--since") })
        let replayed = try IntentStore.replay(selection, by: "cli", dryRun: dryRun, on: try database.connect())
        if json { return try printJSON(["dry_run": .bool(dryRun), "intents": JSONValue.array(replayed.map { .int($0) })]) }
        let verb = dryRun ? "would replay" : "replayed"
        print("\(verb) \(replayed.count) intents\(replayed.isEmpty ? "" : ": " + replayed.map(String.init).joined(separator: " "))")
    }
}

extension IntentStatus: ExpressibleByArgument {}
extension IntentKind: ExpressibleByArgument {}
