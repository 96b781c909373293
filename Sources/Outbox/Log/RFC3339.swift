import Foundation

/// The one reader of RFC 3339 times: options on the command line (`2026-11-16T00:00:00Z`) and
/// times as PostgreSQL's jsonb writes them (`2026-11-23T17:55:01.123456+00:00`).
public enum RFC3339 {
    /// The time `text` names, with or without a fraction of a second; nil when it is no RFC 3339 time.
    public static func date(from text: String) -> Date? {
        // Microseconds are more than ISO8601DateFormatter reads: keep milliseconds.
        var trimmed = text
        if let dot = text.firstIndex(of: "."), let end = text[dot...].dropFirst().firstIndex(where: { !$0.isNumber }) {
            trimmed = String(text[..<dot]) + String(text[dot..<end].prefix(4)) + String(text[end...])
        }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: trimmed) ?? ISO8601DateFormatter().date(from: trimmed)
    }
}
