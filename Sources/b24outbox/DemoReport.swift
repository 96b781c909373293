import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox

/// How the demo talks: numbered stages, short explanations, live progress, audit timelines.
struct DemoReport: Sendable {
    let stages: Int
    /// Whether stdout is a terminal: progress updates one line in place there.
    let interactive = isatty(STDOUT_FILENO) == 1

    /// Prints at once, also into a pipe, so progress shows as it happens.
    static func write(_ text: String, terminator: String = "\n") {
        print(text, terminator: terminator)
        fflush(nil)
    }

    func stage(_ number: Int, _ title: String) {
        Self.write("\n[\(number)/\(stages)] \(title)")
    }

    func say(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) { Self.write("  \(line)") }
    }

    /// One progress reading: in place on a terminal, else a plain line (the caller decides how often).
    func progress(_ stats: Stats, elapsed: Duration, final: Bool = false) {
        let count = { (status: String) in stats.intents.filter { $0.status == status }.map(\.count).reduce(0, +) }
        let delivered = count("delivered")
        let rate = elapsed.inSeconds > 0 ? Double(delivered) / elapsed.inSeconds : 0
        let line = "delivered \(grouped(delivered)) · pending \(grouped(count("pending") + count("claimed")))"
            + " · dead \(grouped(count("dead"))) · failed attempts \(grouped(stats.failedLastMinute))"
            + " · \(String(format: "%.1f", elapsed.inSeconds)) s · \(grouped(Int(rate)))/s"
        if interactive {
            Self.write("\r\u{1B}[2K  \(line)", terminator: final ? "\n" : "")
        } else {
            Self.write("  \(line)")
        }
    }

    /// An intent's log entries, times relative to the first one shown.
    func timeline(_ entries: [AuditLog.Entry]) {
        guard let start = entries.first?.recordedAt else { return say("(no entries)") }
        for entry in entries {
            let offset = String(format: "+%.3f s", entry.recordedAt.timeIntervalSince(start))
            let type = entry.type.padding(toLength: 21, withPad: " ", startingAt: 0)
            say("\(offset.padding(toLength: 11, withPad: " ", startingAt: 0)) \(type) \(Self.summary(entry))")
        }
    }

    /// The gist of a log entry's data (entries never hold a secret; this keeps lines short).
    static func summary(_ entry: AuditLog.Entry) -> String {
        let d = entry.data
        func text(_ key: String) -> String { d[key]?.stringValue ?? "?" }
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
            line += ")"
            if let next = d["next_attempt_at"]?.stringValue, let at = parseLogTime(next) {
                line += String(format: ", next attempt in %.2f s", max(0, at.timeIntervalSince(entry.recordedAt)))
            }
            return line
        case LogType.deliverySucceeded:
            var line = "\(text("method")) → \(d["result_id"]?.stringValue ?? d["result"]?.jsonString ?? "?")"
            if let status = d["http_status"]?.intValue { line += ", HTTP \(status)" }
            if let ms = d["duration_ms"]?.doubleValue { line += String(format: ", %.0f ms", ms) }
            if let size = d["batch_size"]?.intValue { line += ", batch of \(size)" }
            if d["found_existing_chat"]?.boolValue == true { line += ", found the chat an earlier attempt created" }
            return line
        case LogType.intentDead:
            return "\(text("error")): \(text("error_description"))"
        case LogType.intentReplayed:
            return "by \(text("by")), was \(text("previous_status")) (\(text("previous_error")))"
        case LogType.intentReleased:
            return "handed back without spending an attempt: \(text("reason"))"
        case LogType.chatDialogFinished:
            return "dialog finished in chat \(text("chat_id"))"
        default:
            return d.jsonString
        }
    }
}

/// 1234567 → "1,234,567", whatever the locale.
func grouped(_ number: Int) -> String {
    let digits = String(number.magnitude)
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
        result.append(digit)
    }
    return number < 0 ? "-" + result : result
}

/// Times as PostgreSQL's jsonb writes them (`2026-11-23T17:55:01.123456+00:00`).
func parseLogTime(_ text: String) -> Date? {
    // Microseconds are more than ISO8601DateFormatter reads: keep milliseconds.
    var trimmed = text
    if let dot = text.firstIndex(of: "."), let end = text[dot...].dropFirst().firstIndex(where: { !$0.isNumber }) {
        trimmed = String(text[..<dot]) + String(text[dot..<end].prefix(4)) + String(text[end...])
    }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: trimmed) ?? ISO8601DateFormatter().date(from: trimmed)
}
