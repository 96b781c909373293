import Foundation

/// Keeps secrets and long foreign text out of errors and logs.
enum Redactor {
    /// Secrets shorter than this are not searched for: replacing "1" everywhere would garble
    /// text and protect nothing (real codes and tokens are far longer).
    static let minimumSecretLength = 4

    static func scrub(_ text: String, secrets: [String]) -> String {
        var text = text
        for secret in secrets where secret.count >= minimumSecretLength {
            text = text.replacingOccurrences(of: secret, with: "***")
        }
        return text
    }

    /// A short one-line excerpt of a body nobody expected (an HTML error page): the page title if
    /// there is one, else the text without tags, whitespace collapsed, cut to `limit` characters.
    static func excerpt(of body: [UInt8], limit: Int = 160) -> String {
        let text = String(decoding: body.prefix(8192), as: UTF8.self)
        var source = text
        if let title = between("<title>", "</title>", in: text), !title.isEmpty {
            source = title
        } else if text.contains("<") {
            source = stripTags(text)
        }
        let words = source.split(whereSeparator: { $0.isWhitespace || $0.isNewline || $0.unicodeScalars.allSatisfy { $0.properties.generalCategory == .control } })
        let collapsed = words.joined(separator: " ")
        return collapsed.count > limit ? String(collapsed.prefix(limit)) + "…" : collapsed
    }

    private static func between(_ open: String, _ close: String, in text: String) -> String? {
        guard let start = text.range(of: open, options: .caseInsensitive),
            let end = text.range(of: close, options: .caseInsensitive, range: start.upperBound..<text.endIndex)
        else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }

    private static func stripTags(_ text: String) -> String {
        var out = ""
        var inTag = false
        for ch in text {
            if ch == "<" {
                inTag = true
                out.append(" ")
            } else if ch == ">" {
                inTag = false
            } else if !inTag {
                out.append(ch)
            }
        }
        return out
    }
}
