import Postgres

/// Applies the bundled migrations, each exactly once, in order.
///
/// Runs hold a session-level advisory lock, so concurrent `migrate` runs queue up and the later
/// ones find nothing left to do. Each migration and its bookkeeping row commit together.
public struct Migrator: Sendable {
    public var migrations: [Migration]

    /// Takes from PUBLIC what PostgreSQL grants it by default (EXECUTE on every new function and procedure)
    /// or a migration might grant by mistake; each role's grants are untouched. Run after every
    /// migration, in its transaction, because a function dropped and created again, or created
    /// anew, gets the default back (`sql/015_least_privilege.sql`).
    static let revokePublic = """
        REVOKE ALL ON ALL ROUTINES IN SCHEMA outbox FROM PUBLIC;
        REVOKE ALL ON ALL TABLES IN SCHEMA outbox FROM PUBLIC;
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA outbox FROM PUBLIC;
        REVOKE ALL ON SCHEMA outbox FROM PUBLIC;
        """

    /// The advisory lock key: "b24out" in ASCII.
    static let lockKey: Int64 = 0x6232_346F_7574

    public init(migrations: [Migration] = Migration.bundled) {
        self.migrations = migrations.sorted { $0.name < $1.name }
    }

    /// Applies what is pending; returns the names applied. Throws, applying nothing, when an
    /// applied file has changed or the database has migrations this build does not know.
    @discardableResult
    public func migrate(on db: Connection) throws -> [String] {
        try db.execute("SELECT pg_advisory_lock($1)", [Self.lockKey])
        defer { _ = try? db.execute("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }

        try db.executeScript("""
            CREATE SCHEMA IF NOT EXISTS outbox;
            CREATE TABLE IF NOT EXISTS outbox.schema_migrations (
                name       text PRIMARY KEY,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            """)
        let statuses = try status(on: db)
        if let problem = statuses.first(where: { $0.state == .changed || $0.state == .unknown }) {
            throw MigrationError(description: problem.state == .changed
                ? "migration \(problem.name) was changed after it was applied; restore the file as it was and add a new migration instead"
                : "the database has migration \(problem.name), which this build does not know; run a newer b24outbox")
        }
        var applied: [String] = []
        for migration in migrations where statuses.contains(where: { $0.name == migration.name && $0.state == .pending }) {
            try db.transaction { db in
                try db.executeScript(migration.sql)
                try db.executeScript(Self.revokePublic)
                try db.execute(
                    "INSERT INTO outbox.schema_migrations (name, checksum) VALUES ($1, \(Self.checksumSQL("$2")))",
                    [migration.name, migration.sql])
            }
            applied.append(migration.name)
        }
        // Also when nothing was pending: a function re-created by hand gets PUBLIC back.
        if applied.isEmpty { try db.executeScript(Self.revokePublic) }
        return applied
    }

    /// Every migration of this build and of the database, with its state, in name order.
    public func status(on db: Connection) throws -> [MigrationStatus] {
        let tableExists = try db.query("SELECT to_regclass('outbox.schema_migrations') IS NOT NULL")
            .first!.decode(0, as: Bool.self)
        var recorded: [String: (checksum: String, appliedAt: String)] = [:]
        if tableExists {
            for row in try db.query("SELECT name, checksum, applied_at::text FROM outbox.schema_migrations") {
                recorded[try row.decode(0)] = (try row.decode(1), try row.decode(2))
            }
        }
        let checksums = try checksums(on: db)
        var result: [MigrationStatus] = migrations.map { migration in
            guard let record = recorded[migration.name] else {
                return MigrationStatus(name: migration.name, state: .pending)
            }
            let state: MigrationStatus.State = record.checksum == checksums[migration.name] ? .applied : .changed
            return MigrationStatus(name: migration.name, state: state, appliedAt: record.appliedAt)
        }
        for (name, record) in recorded where !migrations.contains(where: { $0.name == name }) {
            result.append(MigrationStatus(name: name, state: .unknown, appliedAt: record.appliedAt))
        }
        return result.sorted { $0.name < $1.name }
    }

    /// True when every migration of this build is applied and unchanged (readiness).
    public func isCurrent(on db: Connection) throws -> Bool {
        try status(on: db).allSatisfy { $0.state == .applied }
    }

    /// SHA-256 of each file, computed by PostgreSQL so the binary needs no crypto library.
    private func checksums(on db: Connection) throws -> [String: String] {
        guard !migrations.isEmpty else { return [:] }
        let rows = try db.query(
            "SELECT name, \(Self.checksumSQL("sql")) FROM unnest($1::text[], $2::text[]) AS m(name, sql)",
            [migrations.map(\.name), migrations.map(\.sql)])
        var result: [String: String] = [:]
        for row in rows { result[try row.decode(0)] = try row.decode(1) }
        return result
    }

    private static func checksumSQL(_ expression: String) -> String {
        "encode(sha256(convert_to(\(expression), 'UTF8')), 'hex')"
    }
}
