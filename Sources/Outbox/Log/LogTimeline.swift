import Bitrix24Wire
import Foundation

/// Log entries as a person reads them at a glance, and as a script reads them:
///
///     +0.938 s    intent.claimed        attempt 1 by worker host/4242/0
///     +1.190 s    delivery.failed       INVALID_RESPONSE (ambiguous, HTTP 502), next attempt in 0.25 s
///     +1.498 s    delivery.succeeded    im.notify.personal.add → 101251, HTTP 200, 308 ms, batch of 10
///
/// Pure functions of entries. Every line is one line: control characters of the data (a
/// message's newline, an escape sequence in a description Bitrix24 sent) are shown escaped, and
/// entries never hold a secret.
public enum LogTimeline {
    /// Entries in the order given, times relative to the first: what `log --intent ID` and the
    /// demo show. No lines for no entries.
    public static func timeline(_ entries: [AuditLog.Entry]) -> [String] {
        guard let start = entries.first?.recordedAt else { return [] }
        return entries.map { entry in
            let offset = String(format: "+%.3f s", entry.recordedAt.timeIntervalSince(start))
            return escaped("\(padded(offset, 11)) \(padded(entry.type, 21)) \(gist(entry))")
        }
    }

    /// What `log` prints for entries in human form: an intent's timeline under a line naming it
    /// and the time of its first entry when all are of one intent, else one `line` per entry.
    public static func lines(_ entries: [AuditLog.Entry]) -> [String] {
        guard let first = entries.first else { return [] }
        guard let intent = first.intentID, entries.allSatisfy({ $0.intentID == intent }) else { return entries.map(line) }
        let portal = first.portal.map { " on portal \($0)" } ?? ""
        return [escaped("intent \(intent)\(portal), from \(time(first.recordedAt))")] + timeline(entries)
    }

    /// One entry with its time (UTC) and stream:
    /// `2026-11-23 17:55:01.123Z  intent-97     intent.claimed        attempt 1 by worker w`.
    public static func line(_ entry: AuditLog.Entry) -> String {
        escaped("\(time(entry.recordedAt))  \(padded(entry.stream, 12)) \(padded(entry.type, 21)) \(gist(entry))")
    }

    /// One intent on one line: the time of its latest entry, id, kind, recipient, status now,
    /// and Bitrix24's last answer:
    /// `2026-11-23 17:55:02.101Z  intent 97     notify.personal  user 10        delivered  delivery.succeeded → 101251`.
    public static func line(_ intent: AuditLog.IntentSummary) -> String {
        let columns = [
            time(intent.lastRecordedAt) + " ", padded("intent \(intent.intentID)", 13), padded(intent.kind, 16),
            padded(recipient(intent.users), 14), padded(intent.status, 10), answer(intent.lastAnswer),
        ]
        return escaped(columns.joined(separator: " "))
    }

    /// Script-readable: seq, time, stream, type and the data as JSON, tab-separated.
    public static func plain(_ entry: AuditLog.Entry) -> String {
        let time = entry.recordedAt.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        return "\(entry.seq)\t\(time)\t\(entry.stream)\t\(entry.type)\t\(entry.data.jsonString)"
    }

    /// The gist of an entry's data: what an attempt answered, who did what.
    public static func summary(_ entry: AuditLog.Entry) -> String {
        escaped(gist(entry))
    }

    private static func gist(_ entry: AuditLog.Entry) -> String {
        let d = entry.data
        func text(_ key: String) -> String { d[key]?.stringValue ?? "?" }
        /// ", next attempt in 0.25 s" when the entry says when.
        func nextAttempt() -> String {
            guard let next = d["next_attempt_at"]?.stringValue, let at = RFC3339.date(from: next) else { return "" }
            return String(format: ", next attempt in %.2f s", max(0, at.timeIntervalSince(entry.recordedAt)))
        }
        switch entry.type {
        case LogType.intentEnqueued:
            let payload = d["payload"]
            if let user = payload?["USER_ID"]?.intValue {
                let message = payload?["MESSAGE"]?.stringValue ?? ""
                let attach = payload?["ATTACH"] == nil ? "" : " + ATTACH"
                let shown = message.count > 60 ? message.prefix(59) + "…" : message
                return "\(text("kind")) to user \(user): \"\(shown)\"\(attach)"
            }
            return "\(text("kind")): \"\(payload?["TITLE"]?.stringValue ?? "")\""
        case LogType.intentClaimed:
            return "attempt \(text("attempt")) by worker \(text("worker"))"
        case LogType.deliveryFailed:
            var line = "\(text("error")) (\(text("class"))"
            if let status = d["http_status"]?.intValue { line += ", HTTP \(status)" }
            return line + ")" + nextAttempt()
        case LogType.deliverySucceeded:
            var line = "\(text("method")) → \(result(d))"
            if let status = d["http_status"]?.intValue { line += ", HTTP \(status)" }
            if let ms = d["duration_ms"]?.doubleValue { line += String(format: ", %.0f ms", ms) }
            if let size = d["batch_size"]?.intValue { line += ", batch of \(size)" }
            if d["found_existing_chat"]?.boolValue == true { line += ", found the chat an earlier attempt created" }
            return line
        case LogType.intentDead:
            return "\(text("error")): \(text("error_description"))"
        case LogType.intentReplayed:
            let error = d["previous_error"]?.stringValue.map { " (\($0))" } ?? ""
            return "by \(text("by")), was \(text("previous_status"))\(error)"
        case LogType.intentReleased:
            return "handed back without spending an attempt: \(text("reason"))"
        case LogType.intentLeaseExpired:
            let lost = d["lease_expiries"]?.intValue.map { ", \($0) lost in a row" } ?? ""
            return "the lease of worker \(text("previous_worker")) ran out in attempt \(text("attempt"))\(lost)\(nextAttempt())"
        case LogType.intentCancelled:
            return "by \(text("by")), was \(text("previous_status"))"
        case LogType.intentSuperseded:
            return "not sent: intent \(text("by")), newer, with the same recipient and TAG replaces it"
        case LogType.chatDialogFinished:
            return "dialog finished in chat \(text("chat_id"))"
        case LogType.bitrixEvent:
            var line = text("event")
            switch d["source"]?.stringValue {
            case "push": line += " pushed"
            case "offline": line += " pulled from the offline queue" + (d["offline_id"]?.intValue.map { " (id \($0))" } ?? "")
            default: break
            }
            if let domain = d["domain"]?.stringValue { line += " by \(domain)" }
            if let chats = d["chat_ids"]?.arrayValue, !chats.isEmpty {
                line += ", chat\(chats.count == 1 ? "" : "s") " + list(chats.map { $0.stringValue ?? "?" })
            }
            if let error = d["decode_error"]?.stringValue { line += ", not decoded: \(error)" }
            return line
        case "portal.added":
            let accepts = d["accepts_events"]?.boolValue == true ? "accepts events" : "accepts no events"
            return "\(text("auth_kind")) portal at \(text("base_url")), rate bucket \(text("rate_bucket")) "
                + "drained \(text("rate_drain"))/s, \(accepts)"
        case "portal.removed":
            return "removed"
        case "portal.moved":
            return "from \(text("from")) to \(text("to"))"
        case "portal.paused", "portal.resumed":
            return "by \(text("by"))"
        case "portal.tokens_set":
            return "by \(text("by"))\(expiry(d))"
        case "portal.tokens_refreshed":
            let after = d["after_unanswered"]?.intValue.map { ", after \($0) unanswered refreshes" } ?? ""
            return "refreshed\(expiry(d))\(after)"
        case "portal.token_refresh_unanswered":
            return "refresh by \(text("holder")) unanswered (\(text("unanswered")) in a row): \(text("error"))"
        case "portal.token_refresh_refused":
            return "Bitrix24 refused the refresh by \(text("holder")): \(text("error"))"
        case "portal.tokens_lost":
            return "lost after \(text("unanswered")) unanswered refreshes, then refused to \(text("holder")): \(text("error"))"
        case "log.archived":
            return "\(text("month")): \(text("rows")) entries (seq \(text("first_seq"))–\(text("last_seq"))) "
                + "to \(text("file")), SHA-256 \(text("sha256"))"
        default:
            return d.jsonString
        }
    }

    /// Bitrix24's last answer in short: `delivery.succeeded → 101251`, `delivery.failed QUERY_LIMIT_EXCEEDED`.
    private static func answer(_ entry: AuditLog.Entry?) -> String {
        guard let entry else { return "no answer yet" }
        if entry.type == LogType.deliverySucceeded { return "\(entry.type) → \(result(entry.data))" }
        return "\(entry.type) \(entry.data["error"]?.stringValue ?? "?")"
    }

    private static func result(_ d: JSONValue) -> String {
        d["result_id"]?.stringValue ?? d["result"]?.jsonString ?? "?"
    }

    private static func recipient(_ users: [Int64]) -> String {
        switch users.count {
        case 0: "—"
        case 1: "user \(users[0])"
        default: "users " + list(users.map(String.init))
        }
    }

    /// `a, b, c`, or the first three and how many more.
    private static func list(_ items: [String]) -> String {
        items.count <= 3 ? items.joined(separator: ", ") : items.prefix(3).joined(separator: ", ") + " and \(items.count - 3) more"
    }

    /// ", access token expires 2026-11-23 18:55:01.000Z" from an `expires_at` in epoch seconds.
    private static func expiry(_ d: JSONValue) -> String {
        d["expires_at"]?.doubleValue.map { ", access token expires \(time(Date(timeIntervalSince1970: $0)))" } ?? ""
    }

    /// `2026-11-23 17:55:01.123Z`.
    static func time(_ date: Date) -> String {
        date.formatted(utc)
    }

    private static let utc = Date.ISO8601FormatStyle(dateSeparator: .dash, dateTimeSeparator: .space, timeZone: .gmt)
        .year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)

    /// `text` with spaces added up to `width` characters; longer text stays whole.
    private static func padded(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : text + String(repeating: " ", count: width - count)
    }

    /// Control characters, line and paragraph separators and bidirectional controls as
    /// `\u{…}` escapes (`\n`, `\t`, `\r` as such), so data cannot break a line or steer a terminal.
    static func escaped(_ text: String) -> String {
        func unsafe(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator: true
            default: scalar.properties.isBidiControl
            }
        }
        guard text.unicodeScalars.contains(where: unsafe) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard unsafe(scalar) else { out.append(scalar); continue }
            let escape: String = switch scalar {
            case "\n": "\\n"
            case "\t": "\\t"
            case "\r": "\\r"
            default: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            }
            out.append(contentsOf: escape.unicodeScalars)
        }
        return String(out)
    }
}
