import Bitrix24
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
        let line = "delivered \(delivered.grouped) · pending \((count("pending") + count("claimed")).grouped)"
            + " · dead \(count("dead").grouped) · failed attempts \(stats.failedLastMinute.grouped)"
            + " · \(String(format: "%.1f", elapsed.inSeconds)) s · \(Int(rate).grouped)/s"
        if interactive {
            Self.write("\r\u{1B}[2K  \(line)", terminator: final ? "\n" : "")
        } else {
            Self.write("  \(line)")
        }
    }

    /// An intent's log entries, times relative to the first one shown.
    func timeline(_ entries: [AuditLog.Entry]) {
        let lines = LogTimeline.timeline(entries)
        if lines.isEmpty { say("(no entries)") }
        lines.forEach(say)
    }
}

extension Int {
    /// 1234567 → "1,234,567", whatever the locale.
    var grouped: String {
        let digits = String(magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
            result.append(digit)
        }
        return self < 0 ? "-" + result : result
    }
}
