import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// The grants of a migrated database, object by object: nothing for PUBLIC, and for each role
/// exactly what the README's table ("Running with least privilege") says.
@Suite("Privileges", .enabled(if: TestEnvironment.hasDatabase))
struct PrivilegeTests {
    /// PUBLIC entries allowed on purpose, as "object: privilege". None.
    static let publicOnPurpose: Set<String> = []

    static let readme = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("README.md")

    static let roles = ["b24outbox_producer", "b24outbox_worker", "b24outbox_audit"]

    /// Every PUBLIC entry on the schema and its functions, tables and sequences, with the
    /// defaults PostgreSQL applies to a NULL ACL (EXECUTE for PUBLIC on a function).
    static func publicEntries(on db: Connection) throws -> Set<String> {
        let rows = try db.query("""
            SELECT o.name || ': ' || a.privilege_type
              FROM (SELECT p.oid::regprocedure::text AS name, coalesce(p.proacl, acldefault('f'::"char", p.proowner)) AS acl
                      FROM pg_proc p WHERE p.pronamespace = 'outbox'::regnamespace
                    UNION ALL
                    SELECT c.oid::regclass::text, coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))
                      FROM pg_class c WHERE c.relnamespace = 'outbox'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                    UNION ALL
                    SELECT 'schema outbox', coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))
                      FROM pg_namespace n WHERE n.nspname = 'outbox') o,
                   aclexplode(o.acl) a
             WHERE a.grantee = 0
            """)
        return Set(try rows.map { try $0.decode(0, as: String.self) })
    }

    @Test("no function, table, sequence or the schema grants PUBLIC anything")
    func nothingForPublic() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        #expect(try Self.publicEntries(on: db).subtracting(Self.publicOnPurpose) == [])
        // What 009 and 011 left open: any login with USAGE could send and drain a bucket.
        let functions = try db.query("SELECT count(*) FROM pg_proc WHERE pronamespace = 'outbox'::regnamespace").first!.decode(0, as: Int.self)
        #expect(functions > 20, "the enumeration sees the schema's functions")
    }

    @Test("a function a later migration creates, or one re-created by hand, does not keep PUBLIC's EXECUTE")
    func laterFunctions() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        let later = Migration(name: "999_later.sql", sql: """
            DROP FUNCTION outbox.is_lookup_id(text) CASCADE;
            CREATE FUNCTION outbox.is_lookup_id(p_id text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
            CREATE FUNCTION outbox.later() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
            """)
        try Migrator(migrations: Migration.bundled + [later]).migrate(on: db)
        #expect(try Self.publicEntries(on: db) == [])

        try db.execute("CREATE FUNCTION outbox.by_hand() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$")
        #expect(try Self.publicEntries(on: db) == ["outbox.by_hand(): EXECUTE"], "the default, as PostgreSQL applies it")
        #expect(try Migrator(migrations: Migration.bundled + [later]).migrate(on: db) == [])
        #expect(try Self.publicEntries(on: db) == [], "migrate with nothing pending repairs it")
    }

    @Test("every role has exactly what the README's table says on every function and table")
    func readmeTable() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        let usageOnly = "b24o_usage_\(UUID().uuidString.prefix(8).lowercased())"
        try db.execute("CREATE ROLE \(usageOnly) LOGIN")
        try db.execute("GRANT USAGE ON SCHEMA outbox TO \(usageOnly)")
        defer {
            _ = try? db.execute("REVOKE ALL ON SCHEMA outbox FROM \(usageOnly)")
            _ = try? db.execute("DROP ROLE IF EXISTS \(usageOnly)")
        }
        let roles = Self.roles + [usageOnly]
        let table = try ReadmeGrants.parse(String(contentsOf: Self.readme, encoding: .utf8))
        #expect(table.roleCount == roles.count, "a column per role: producer, worker, audit, USAGE only")

        let objects = try DatabaseGrants.read(on: db, roles: roles)
        var checked = 0
        for object in objects {
            guard let row = table.row(for: object) else {
                Issue.record("\(object.name) (\(object.kind)) is in no row of the README's table")
                continue
            }
            for (index, role) in roles.enumerated() {
                let expected = try row.privileges(index, columns: object.columns)
                #expect(object.privileges[role] == expected,
                        "\(object.name) for \(role): the README says \(row.cells[index])")
                checked += 1
            }
        }
        for name in table.namedObjects where !objects.contains(where: { $0.name == name }) {
            Issue.record("the README's table names \(name), which the schema does not have")
        }
        #expect(checked >= objects.count * 4 && objects.count > 40, "\(objects.count) objects")
    }
}

/// What a migrated database grants, per object and role, in the README's words: "EXECUTE";
/// "SELECT" for the whole table; "SELECT (col)" for a column granted alone.
struct DatabaseGrants {
    enum Kind: String { case function, table, partition, sequence }
    var name: String
    var kind: Kind
    var columns: [String]
    var privileges: [String: Set<String>]

    static func read(on db: Connection, roles: [String]) throws -> [DatabaseGrants] {
        var result: [DatabaseGrants] = []
        for row in try db.query("""
            SELECT p.proname, r.role,
                   CASE WHEN has_function_privilege(r.role, p.oid, 'EXECUTE') THEN 'EXECUTE' ELSE '' END
              FROM pg_proc p, unnest($1::text[]) r(role)
             WHERE p.pronamespace = 'outbox'::regnamespace
             ORDER BY 1, 2
            """, [roles]) {
            try add(&result, name: row.decode(0), kind: .function, columns: [], role: row.decode(1), privileges: row.decode(2))
        }
        for row in try db.query("""
            SELECT c.relname, CASE WHEN c.relkind = 'S' THEN 'sequence' WHEN c.relispartition THEN 'partition' ELSE 'table' END,
                   (SELECT coalesce(string_agg(a.attname, '|' ORDER BY a.attnum), '') FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                   r.role,
                   CASE WHEN c.relkind = 'S' THEN
                       (SELECT coalesce(string_agg(p, '|'), '') FROM unnest(ARRAY['USAGE', 'SELECT', 'UPDATE']) p
                         WHERE has_sequence_privilege(r.role, c.oid, p))
                   ELSE
                       (SELECT coalesce(string_agg(p, '|'), '') FROM (
                            SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
                             WHERE has_table_privilege(r.role, c.oid, p)
                            UNION ALL
                            SELECT p || ' (' || a.attname || ')'
                              FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p, pg_attribute a
                             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                               AND NOT has_table_privilege(r.role, c.oid, p)
                               AND has_column_privilege(r.role, c.oid, a.attnum, p)) t)
                   END
              FROM pg_class c, unnest($1::text[]) r(role)
             WHERE c.relnamespace = 'outbox'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
             ORDER BY 1, 4
            """, [roles]) {
            let kind = Kind(rawValue: try row.decode(1))!
            let columns = try row.decode(2, as: String.self).split(separator: "|").map(String.init)
            try add(&result, name: row.decode(0), kind: kind, columns: columns, role: row.decode(3), privileges: row.decode(4))
        }
        return result
    }

    private static func add(_ result: inout [DatabaseGrants], name: String, kind: Kind, columns: [String], role: String, privileges: String) {
        let set = Set(privileges.split(separator: "|").map(String.init))
        if let index = result.firstIndex(where: { $0.name == name && $0.kind == kind }) {
            result[index].privileges[role] = set
        } else {
            result.append(DatabaseGrants(name: name, kind: kind, columns: columns, privileges: [role: set]))
        }
    }
}

/// The README's role × object table. A row names objects in backticks, or covers every other
/// function, or every month of the log and every sequence.
struct ReadmeGrants {
    struct Row {
        var objects: [String]
        var otherFunctions: Bool
        var partitionsAndSequences: Bool
        var cells: [String]

        /// A cell in the form DatabaseGrants reads: "—" is nothing; "P (a, b)" is P on those
        /// columns; "P (all but a, b)" is P on every other column.
        func privileges(_ index: Int, columns: [String]) throws -> Set<String> {
            let cell = cells[index]
            if cell == "—" { return [] }
            var result: Set<String> = []
            for item in Self.topLevelItems(cell) {
                guard let open = item.firstIndex(of: "(") else { result.insert(item); continue }
                let privilege = item[..<open].trimmingCharacters(in: .whitespaces)
                var list = item[item.index(after: open)...].dropLast().trimmingCharacters(in: .whitespaces)
                let allBut = list.hasPrefix("all but ")
                if allBut { list = String(list.dropFirst("all but ".count)) }
                let named = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                for name in named where !columns.contains(name) {
                    throw ReadmeError(description: "the cell \"\(cell)\" names a column \(name) the table does not have")
                }
                for column in columns where named.contains(column) != allBut {
                    result.insert("\(privilege) (\(column))")
                }
            }
            return result
        }

        /// Splits on the commas outside parentheses.
        static func topLevelItems(_ cell: String) -> [String] {
            var items: [String] = [], current = "", depth = 0
            for character in cell {
                switch character {
                case "(": depth += 1; current.append(character)
                case ")": depth -= 1; current.append(character)
                case "," where depth == 0: items.append(current.trimmingCharacters(in: .whitespaces)); current = ""
                default: current.append(character)
                }
            }
            items.append(current.trimmingCharacters(in: .whitespaces))
            return items
        }
    }

    struct ReadmeError: Error, CustomStringConvertible { var description: String }

    var rows: [Row]
    var roleCount: Int

    var namedObjects: [String] { rows.flatMap(\.objects) }

    func row(for object: DatabaseGrants) -> Row? {
        if let named = rows.first(where: { $0.objects.contains(object.name) }) { return named }
        switch object.kind {
        case .function: return rows.first(where: \.otherFunctions)
        case .partition, .sequence: return rows.first(where: \.partitionsAndSequences)
        case .table: return nil
        }
    }

    static func parse(_ readme: String) throws -> ReadmeGrants {
        let lines = readme.components(separatedBy: "\n")
        guard let header = lines.firstIndex(where: { $0.hasPrefix("| object | `b24outbox_producer` | `b24outbox_worker` | `b24outbox_audit` |") }) else {
            throw ReadmeError(description: "the README has no role × object table")
        }
        let roleCount = cells(lines[header]).count - 1
        var rows: [Row] = []
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("|") else { break }
            let parts = cells(line)
            guard parts.count == roleCount + 1 else { throw ReadmeError(description: "a row without a cell per role: \(line)") }
            let first = parts[0]
            let otherFunctions = first.hasPrefix("every other function")
            let partitions = first.hasPrefix("every month of the log")
            let objects = (otherFunctions || partitions) ? [] : first.split(separator: "`", omittingEmptySubsequences: false).enumerated()
                .filter { $0.offset % 2 == 1 }.map { String($0.element) }
            rows.append(Row(objects: objects, otherFunctions: otherFunctions, partitionsAndSequences: partitions,
                            cells: Array(parts.dropFirst())))
        }
        return ReadmeGrants(rows: rows, roleCount: roleCount)
    }

    private static func cells(_ line: String) -> [String] {
        line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }
}
