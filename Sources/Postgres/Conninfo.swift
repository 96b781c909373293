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
}
