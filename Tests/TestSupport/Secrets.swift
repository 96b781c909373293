import Bitrix24Simulator
import Postgres
import Testing

/// The secrets the suite's portals use: none may ever appear in the log, in intents, or in any
/// command output.
public enum TestSecrets {
    public static var known: [String] {
        let defaults = Simulator.Configuration()
        return [defaults.webhookCode, defaults.oauth.accessToken, defaults.oauth.refreshToken, defaults.oauth.clientSecret]
    }

    /// Records an issue for each secret found in `text`.
    public static func expectAbsent(_ secrets: [String], in text: String, _ what: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        for secret in secrets where !secret.isEmpty && text.contains(secret) {
            Issue.record("a secret appears in \(what)", sourceLocation: sourceLocation)
        }
    }

    /// Every row of every table of the schema except `outbox.portals` (which holds the secrets
    /// on purpose), as text: what a secret scan of the database reads.
    public static func databaseText(on db: Connection) throws -> String {
        var text = ""
        for row in try db.query("""
            SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'outbox' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'portals'
            """) {
            let table: String = try row.decode(0)
            text += try db.query("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \(table) t").first!.decode(0, as: String.self)
            text += "\n"
        }
        return text
    }
}
