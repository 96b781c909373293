import CLibpq
import Foundation

/// Connection strings, as libpq takes them: a URI or `key=value` pairs.
public enum Conninfo {
    /// The same server with another database: the URI's path, or a trailing `dbname=` (libpq
    /// takes the last of repeated keys).
    public static func replacingDatabase(in base: String, with database: String) -> String {
        if base.hasPrefix("postgres://") || base.hasPrefix("postgresql://"), var url = URLComponents(string: base) {
            url.path = "/\(database)"
            return url.string ?? base
        }
        return "\(base) dbname=\(database)"
    }

    /// `message` with every password it might repeat replaced by `***`: the one `conninfo`
    /// holds (libpq echoes a URI it cannot parse, password included), and any `user:password@`
    /// of a URI or `password=` pair in it.
    public static func redacting(_ message: String, conninfo: String = "") -> String {
        // A key=value string libpq cannot parse may quote any word of it, a password's too
        // (`password=two words`): say what is wrong without quoting it.
        if !conninfo.contains("://"), conninfo.range(of: "password", options: .caseInsensitive) != nil,
           !parses(conninfo) {
            return "the connection string cannot be parsed (not shown: it holds a password)"
        }
        var text = message
        for password in passwords(in: conninfo) where !password.isEmpty {
            text = text.replacingOccurrences(of: password, with: "***")
        }
        text = text.replacingOccurrences(
            of: #"(postgres(?:ql)?://[^:/@\s"]*:)[^@\s"]*@"#, with: "$1***@", options: .regularExpression)
        text = text.replacingOccurrences(
            of: #"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s"]+)"#, with: "$1***", options: [.regularExpression, .caseInsensitive])
        return text
    }

    static func parses(_ conninfo: String) -> Bool {
        guard let options = PQconninfoParse(conninfo, nil) else { return false }
        PQconninfoFree(options)
        return true
    }

    /// The password libpq would use from `conninfo`, as written and percent-decoded, when it parses;
    /// else whatever sits between `user:` and `@` of a URI.
    static func passwords(in conninfo: String) -> [String] {
        var found: [String] = []
        if let options = PQconninfoParse(conninfo, nil) {
            defer { PQconninfoFree(options) }
            var option = options
            while let keyword = option.pointee.keyword {
                if String(cString: keyword) == "password", let value = option.pointee.val { found.append(String(cString: value)) }
                option += 1
            }
        }
        if let scheme = conninfo.range(of: "://"), let at = conninfo[scheme.upperBound...].lastIndex(of: "@"),
           let colon = conninfo[scheme.upperBound..<at].firstIndex(of: ":") {
            let raw = String(conninfo[conninfo.index(after: colon)..<at])
            found += [raw, raw.removingPercentEncoding ?? raw]
        }
        return found.filter { $0.count >= 3 }
    }
}
