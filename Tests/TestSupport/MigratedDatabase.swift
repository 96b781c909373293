import Outbox
import Postgres

/// A scratch database with every migration applied, one webhook portal per name (ids from 1, in
/// order), and a connection to it: where most database suites start.
public func migratedDatabase(portals: [String] = ["main"]) throws -> (ScratchDatabase, Connection) {
    let scratch = try ScratchDatabase()
    let db = try scratch.connect()
    try Migrator().migrate(on: db)
    for name in portals {
        try db.execute("""
            INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code)
            VALUES ($1, 'https://' || $1 || '.bitrix24.com', 'webhook', 1, 'c0de')
            """, [name])
    }
    return (scratch, db)
}
