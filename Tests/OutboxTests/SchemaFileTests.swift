import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// `sql/schema.sql` and `sql/functions/` against what `migrate` makes, and the upgrade of a
/// database made before function files existed.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct SchemaFileTests {
    @Test("sql/schema.sql with the function files describes exactly the schema migrate makes")
    func schemaFileMatchesMigratedDatabase() throws {
        let (migratedScratch, migrated) = try migratedDatabase(portals: [])
        defer { withExtendedLifetime(migratedScratch) {} }
        let scratch = try ScratchDatabase()
        let loaded = try scratch.connect()
        try loaded.executeScript("CREATE SCHEMA outbox; SET check_function_bodies = off;")
        for file in FunctionFile.bundled { try loaded.executeScript(file.sql) }
        try loaded.executeScript(try String(contentsOf: Self.schemaFile, encoding: .utf8))
        try loaded.executeScript("RESET check_function_bodies")

        let expected = try SchemaDescription(of: migrated)
        let actual = try SchemaDescription(of: loaded)
        #expect(expected.lines.count > 100, "the description sees the schema")
        #expect(actual.lines.subtracting(expected.lines).sorted() == [], "in sql/schema.sql, not in a migrated database")
        #expect(expected.lines.subtracting(actual.lines).sorted() == [], "in a migrated database, not in sql/schema.sql")
    }

    @Test("a database migrated before function files existed upgrades to the same schema, keeping its rows")
    func databaseOfTheMigrationsAloneUpgrades() throws {
        let (freshScratch, fresh) = try migratedDatabase(portals: [])
        defer { withExtendedLifetime(freshScratch) {} }
        // What earlier builds made: every numbered migration up to 017, no function file.
        let scratch = try ScratchDatabase()
        let db = try scratch.connect()
        try Migrator(migrations: Migration.bundled.filter { $0.name < "018" }).migrate(on: db)
        #expect(try db.query("SELECT to_regclass('outbox.schema_functions') IS NULL").first!.decode(0, as: Bool.self))
        try db.execute("""
            INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code)
            VALUES ('main', 'https://main.bitrix24.com', 'webhook', 1, 'c0de')
            """)
        let id = try db.query("SELECT outbox.enqueue('main', 'notify.system', '{\"USER_ID\": 5, \"MESSAGE\": \"hi\"}')")
            .first!.decode(0, as: Int64.self)
        #expect(try !Migrator().isCurrent(on: db), "function files not applied yet: not ready")

        let run = try Migrator().run(on: db)
        #expect(run.migrations == Migration.bundled.map(\.name).filter { $0 >= "018" })
        #expect(Set(run.functions) == Set(FunctionFile.bundled.map(\.recordedName)))
        #expect(try Migrator().isCurrent(on: db))
        #expect(try SchemaDescription(of: db).lines == SchemaDescription(of: fresh).lines)
        #expect(try db.query("SELECT count(*) FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: Int.self) == 1)
        #expect(try db.query("SELECT count(*) FROM outbox.log WHERE intent_id = $1", [id]).first!.decode(0, as: Int.self) == 1)
        #expect(try Migrator().run(on: db) == Migrator.Run(migrations: [], functions: []))
    }

    @Test("a function file whose text changed is applied again, with its grants, and only it")
    func changedFunctionFileIsAppliedAgain() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        var files = FunctionFile.bundled
        let index = try #require(files.firstIndex { $0.name == "enqueue_chat.sql" })
        // Dropped and created again, as a change of signature must: the file's grants come back with it.
        files[index].sql = "DROP FUNCTION outbox.enqueue_chat(text, jsonb, text, timestamptz);\n" + files[index].sql
        let migrator = Migrator(functions: files)
        #expect(try migrator.functionStatus(on: db).first { $0.name == "functions/enqueue_chat.sql" }?.state == .outdated)
        #expect(try !migrator.isCurrent(on: db))
        #expect(try migrator.run(on: db) == Migrator.Run(migrations: [], functions: ["functions/enqueue_chat.sql"]))
        #expect(try migrator.isCurrent(on: db))
        let granted = try db.query("""
            SELECT has_function_privilege('b24outbox_producer', 'outbox.enqueue_chat(text, jsonb, text, timestamptz)', 'EXECUTE'),
                   has_function_privilege('public', 'outbox.enqueue_chat(text, jsonb, text, timestamptz)', 'EXECUTE')
            """).first!
        #expect(try granted.decode(0, as: Bool.self))
        #expect(try !granted.decode(1, as: Bool.self))
        // The build's own text again.
        #expect(try Migrator().run(on: db).functions == ["functions/enqueue_chat.sql"])
    }

    @Test("function files apply after the files whose functions they call")
    func dependencyOrder() throws {
        let files = [
            FunctionFile(name: "a_caller.sql", sql: "CREATE FUNCTION outbox.a_caller() RETURNS int LANGUAGE sql AS $$ SELECT outbox.z_callee() $$;"),
            FunctionFile(name: "m_alone.sql", sql: "CREATE FUNCTION outbox.m_alone() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;"),
            FunctionFile(name: "z_callee.sql", sql: "CREATE FUNCTION outbox.z_callee() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;"),
        ]
        #expect(FunctionFile.inDependencyOrder(files).map(\.name) == ["m_alone.sql", "z_callee.sql", "a_caller.sql"])
        let bundled = FunctionFile.bundled.map(\.name)
        #expect(try #require(bundled.firstIndex(of: "take_rate_slots.sql")) < #require(bundled.firstIndex(of: "take_rate_slot.sql")))
        #expect(bundled.count == Set(bundled).count)
    }

    @Test("every function of the schema has its file in sql/functions, named after it")
    func everyFunctionHasItsFile() throws {
        let (scratch, db) = try migratedDatabase(portals: [])
        defer { withExtendedLifetime(scratch) {} }
        let functions = try db.query("SELECT proname::text FROM pg_proc WHERE pronamespace = 'outbox'::regnamespace")
            .map { try $0.decode(0, as: String.self) + ".sql" }
        #expect(Set(functions) == Set(FunctionFile.bundled.map(\.name)))
    }

    static let schemaFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "sql/schema.sql")
}

/// The `outbox` schema as lines of text, leaving out the log's month partitions (they follow the
/// calendar): tables, columns, constraints, indexes, triggers, sequences, functions, privileges.
struct SchemaDescription {
    let lines: Set<String>

    init(of db: Connection) throws {
        let queries = [
            """
            SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(pg_get_partkeydef(c.oid), '')
                   || ' acl=' || coalesce(c.relacl::text, '')
              FROM pg_class c WHERE c.relnamespace = 'outbox'::regnamespace AND NOT c.relispartition
               AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
            """,
            """
            SELECT 'column ' || c.relname || ' #' || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) || ' '
                   || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
                   || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' identity=' || a.attidentity::text
                   || ' collation=' || coalesce(co.collname, '') || ' acl=' || coalesce(a.attacl::text, '')
              FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
              LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
              LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0 AND co.collname <> 'default'
             WHERE c.relnamespace = 'outbox'::regnamespace AND NOT c.relispartition AND c.relkind IN ('r', 'p')
               AND a.attnum > 0 AND NOT a.attisdropped
            """,
            """
            SELECT 'constraint ' || c.conrelid::regclass || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
                   || ' valid=' || c.convalidated
              FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
             WHERE c.connamespace = 'outbox'::regnamespace AND NOT r.relispartition
            """,
            """
            SELECT 'index ' || pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid
              FROM pg_index i JOIN pg_class r ON r.oid = i.indrelid
             WHERE r.relnamespace = 'outbox'::regnamespace AND NOT r.relispartition
            """,
            """
            SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
              FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
             WHERE r.relnamespace = 'outbox'::regnamespace AND NOT r.relispartition AND NOT t.tgisinternal
            """,
            """
            SELECT 'sequence ' || s.seqrelid::regclass || ' ' || s.seqtypid::regtype || ' start=' || s.seqstart
                   || ' increment=' || s.seqincrement || ' cache=' || s.seqcache || ' cycle=' || s.seqcycle
              FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = 'outbox'::regnamespace
            """,
            """
            SELECT 'function ' || p.oid::regprocedure || ' acl=' || coalesce(p.proacl::text, '') || E'\n'
                   || pg_get_functiondef(p.oid)
              FROM pg_proc p WHERE p.pronamespace = 'outbox'::regnamespace
            """,
            "SELECT 'schema acl=' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'outbox'",
        ]
        var lines: Set<String> = []
        for query in queries {
            for row in try db.query(query) { lines.insert(try row.decode(0, as: String.self)) }
        }
        self.lines = lines
    }
}
