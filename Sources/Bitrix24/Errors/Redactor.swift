import Foundation

/// Keeps secrets and long foreign text out of errors and logs.
enum Redactor {
    /// Secrets shorter than this are not searched for: replacing "1" everywhere would garble
    /// text and protect nothing (real codes and tokens are far longer).
    static let minimumSecretLength = 4

    /// What is left of a secret cut short (by us, a proxy or a server) is still found when it
    /// keeps at least this many of its characters.
    static let minimumFragmentLength = 8

    /// The longest text an error keeps once scrubbed: scrub first, then cut, so a secret is
    /// never cut in half before it can be found.
    static let descriptionLimit = 300

    /// Replaces every secret, and every run of at least `minimumFragmentLength` of a secret's
    /// first characters (a secret cut after them), and a run of its last characters that opens
    /// the text (cut before them), with `***`. Linear in the text for each secret.
    static func scrub(_ text: String, secrets: [String]) -> String {
        var text = text
        for secret in secrets.sorted(by: { $0.count > $1.count }) where secret.count >= minimumSecretLength {
            text = text.replacingOccurrences(of: secret, with: "***")
        }
        for secret in secrets where secret.utf8.count > minimumFragmentLength {
            text = scrubFragments(of: Array(secret.utf8), in: text)
        }
        return text
    }

    /// Scrubs, then cuts to `limit` characters.
    static func scrub(_ text: String, secrets: [String], limit: Int) -> String {
        cut(scrub(text, secrets: secrets), limit: limit)
    }

    static func cut(_ text: String, limit: Int) -> String {
        text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    private static func scrubFragments(of secret: [UInt8], in text: String) -> String {
        let bytes = Array(text.utf8)
        let n = minimumFragmentLength
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        // The text opens with the secret's tail: the longest such tail (tokens are far shorter than 512).
        var tail = min(secret.count - 1, bytes.count, 512)
        while tail >= n && !bytes[0..<tail].elementsEqual(secret[(secret.count - tail)...]) { tail -= 1 }
        if tail >= n {
            out.append(contentsOf: Array("***".utf8))
            i = tail
        }
        // Anywhere: a run of the secret's head. Each byte is compared at most n times before i moves past it.
        while i < bytes.count {
            if bytes.count - i >= n && bytes[i..<(i + n)].elementsEqual(secret[0..<n]) {
                var j = n
                while i + j < bytes.count && j < secret.count && bytes[i + j] == secret[j] { j += 1 }
                out.append(contentsOf: Array("***".utf8))
                i += j
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A short one-line excerpt of a body nobody expected (an HTML error page): the page title if
    /// there is one, else the text without tags, whitespace collapsed, scrubbed of `secrets`
    /// and only then cut to `limit` characters.
    static func excerpt(of body: [UInt8], limit: Int = 160, secrets: [String] = []) -> String {
        let text = scrub(String(decoding: body.prefix(8192), as: UTF8.self), secrets: secrets)
        var source = text
        if let title = between("<title>", "</title>", in: text), !title.isEmpty {
            source = title
        } else if text.contains("<") {
            source = stripTags(text)
        }
        let words = source.split(whereSeparator: { $0.isWhitespace || $0.isNewline || $0.unicodeScalars.allSatisfy { $0.properties.generalCategory == .control } })
        return cut(words.joined(separator: " "), limit: limit)
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
