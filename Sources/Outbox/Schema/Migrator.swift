import Postgres

/// Applies the bundled migrations, each exactly once, in order, then every function file whose
/// text the database does not have yet.
///
/// The numbered migrations (`sql/NNN_*.sql`) are history: immutable, checksummed, applied once.
/// The current text of each function is its file in `sql/functions/`, applied after them: all
/// of them after any numbered migration ran (a migration may have replaced or dropped one), else
/// only those whose text changed. Each file grants its own rights, since a function dropped and
/// created again loses them. Runs hold a session-level advisory lock, so concurrent `migrate`
/// runs queue up and the later ones find nothing left to do. Each step and its bookkeeping row
/// commit together.
public struct Migrator: Sendable {
    public var migrations: [Migration]
    public var functions: [FunctionFile]

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

    public init(migrations: [Migration] = Migration.bundled, functions: [FunctionFile] = FunctionFile.bundled) {
        self.migrations = migrations.sorted { $0.name < $1.name }
        self.functions = FunctionFile.inDependencyOrder(functions)
    }

    /// What one run applied.
    public struct Run: Sendable, Hashable {
        /// The numbered migrations, in order.
        public var migrations: [String]
        /// The function files, as `functions/NAME.sql`, in the order applied.
        public var functions: [String]

        public init(migrations: [String], functions: [String]) {
            self.migrations = migrations
            self.functions = functions
        }
    }

    /// Applies what is pending; returns the names of the numbered migrations applied (see `run(on:)`).
    @discardableResult
    public func migrate(on db: Connection) throws -> [String] {
        try run(on: db).migrations
    }

    /// Applies what is pending. Throws, applying nothing, when an applied migration has changed
    /// or the database has migrations this build does not know.
    public func run(on db: Connection) throws -> Run {
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
                // With the migration: should the process stop before the function files are
                // applied, the next run finds none recorded and applies them all.
                if try Self.hasFunctionTable(on: db) { try db.execute("DELETE FROM outbox.schema_functions") }
                try db.execute(
                    "INSERT INTO outbox.schema_migrations (name, checksum) VALUES ($1, \(Self.checksumSQL("$2")))",
                    [migration.name, migration.sql])
            }
            applied.append(migration.name)
        }
        // Migrations that stop before 018 are an older build's, which had no function files.
        let functionStates = try functionStatus(on: db)
        let due = try !Self.hasFunctionTable(on: db) ? [] : functions.filter { file in
            !applied.isEmpty || functionStates.contains { $0.name == file.recordedName && $0.state != .applied }
        }
        if !due.isEmpty {
            try db.transaction { db in
                for file in due {
                    try db.executeScript(file.sql)
                    try db.execute("""
                        INSERT INTO outbox.schema_functions (name, checksum) VALUES ($1, \(Self.checksumSQL("$2")))
                        ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()
                        """, [file.name, file.sql])
                }
                try db.executeScript(Self.revokePublic)
            }
        }
        // A file this build no longer has: its function went with a numbered migration.
        if try Self.hasFunctionTable(on: db) {
            try db.execute("DELETE FROM outbox.schema_functions WHERE NOT name = ANY($1::text[])", [functions.map(\.name)])
        }
        // Also when nothing was pending: a function re-created by hand gets PUBLIC back.
        if applied.isEmpty && due.isEmpty { try db.executeScript(Self.revokePublic) }
        return Run(migrations: applied, functions: due.map(\.recordedName))
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

    /// Every function file of this build: `applied` when the database has its text, `outdated`
    /// when it has another, `pending` when it has none; names as `functions/NAME.sql`.
    public func functionStatus(on db: Connection) throws -> [MigrationStatus] {
        var recorded: [String: (checksum: String, appliedAt: String)] = [:]
        if try Self.hasFunctionTable(on: db) {
            for row in try db.query("SELECT 'functions/' || name, checksum, applied_at::text FROM outbox.schema_functions") {
                recorded[try row.decode(0)] = (try row.decode(1), try row.decode(2))
            }
        }
        let checksums = try checksums(of: functions.map { ($0.recordedName, $0.sql) }, on: db)
        return functions.map { file in
            guard let record = recorded[file.recordedName] else { return MigrationStatus(name: file.recordedName, state: .pending) }
            let state: MigrationStatus.State = record.checksum == checksums[file.recordedName] ? .applied : .outdated
            return MigrationStatus(name: file.recordedName, state: state, appliedAt: record.appliedAt)
        }
    }

    /// True when every migration and function file of this build is applied as it is (readiness).
    public func isCurrent(on db: Connection) throws -> Bool {
        try status(on: db).allSatisfy { $0.state == .applied } && functionStatus(on: db).allSatisfy { $0.state == .applied }
    }

    /// `outbox.schema_functions` comes with migration 018; a build's own migrations may stop before it.
    private static func hasFunctionTable(on db: Connection) throws -> Bool {
        try db.query("SELECT to_regclass('outbox.schema_functions') IS NOT NULL").first!.decode(0, as: Bool.self)
    }

    private func checksums(on db: Connection) throws -> [String: String] {
        try checksums(of: migrations.map { ($0.name, $0.sql) }, on: db)
    }

    /// SHA-256 of each file, computed by PostgreSQL so the binary needs no crypto library.
    private func checksums(of files: [(name: String, sql: String)], on db: Connection) throws -> [String: String] {
        guard !files.isEmpty else { return [:] }
        let rows = try db.query(
            "SELECT name, \(Self.checksumSQL("sql")) FROM unnest($1::text[], $2::text[]) AS m(name, sql)",
            [files.map(\.name), files.map(\.sql)])
        var result: [String: String] = [:]
        for row in rows { result[try row.decode(0)] = try row.decode(1) }
        return result
    }

    private static func checksumSQL(_ expression: String) -> String {
        "encode(sha256(convert_to(\(expression), 'UTF8')), 'hex')"
    }
}
