import Bitrix24
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// Malformed producer input through the SQL functions and the CLI (the Swift API's catalogue is
/// in ProducerTests). Each gets its documented error, and no table of the schema changes.
@Suite("Bad producer input", .enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct BadInputCatalogueTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        (scratch, db) = try migratedDatabase()
    }

    /// Rows in every table of the schema.
    func tableCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        let tables: [String] = try db.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'outbox' AND table_type = 'BASE TABLE'"
        ).map { try $0.decode(0) }
        for table in tables {
            counts[table] = try db.query("SELECT count(*) FROM outbox.\(try db.quoteIdentifier(table))").first!.decode(0)
        }
        return counts
    }

    /// SQL producers: SQLSTATE 22023 (invalid_parameter_value) with the field as COLUMN, or the
    /// server's own type error before the function runs.
    @Test(arguments: [
        ("payload not an object", "SELECT outbox.enqueue('main', 'notify.personal', '[1, 2]')", "22023", "payload"),
        ("payload a string", #"SELECT outbox.enqueue('main', 'notify.personal', '"hi"')"#, "22023", "payload"),
        ("unknown kind", #"SELECT outbox.enqueue('main', 'notify.email', '{"USER_ID": 1, "MESSAGE": "x"}')"#, "22023", "kind"),
        ("USER_ID a fraction", #"SELECT outbox.enqueue('main', 'notify.personal', '{"USER_ID": 1.5, "MESSAGE": "x"}')"#, "22023", "USER_ID"),
        ("USER_ID a boolean", #"SELECT outbox.enqueue('main', 'notify.personal', '{"USER_ID": true, "MESSAGE": "x"}')"#, "22023", "USER_ID"),
        ("USER_ID huge", "SELECT outbox.enqueue_notification('main', 99999999999, 'x')", "22023", "USER_ID"),
        ("USER_ID negative", "SELECT outbox.enqueue_notification('main', -5, 'x')", "22023", "USER_ID"),
        ("USER_ID null", "SELECT outbox.enqueue_notification('main', NULL, 'x')", "22023", "USER_ID"),
        ("MESSAGE null", "SELECT outbox.enqueue_notification('main', 1, NULL)", "22023", "MESSAGE"),
        ("MESSAGE a number", #"SELECT outbox.enqueue('main', 'notify.system', '{"USER_ID": 1, "MESSAGE": 42}')"#, "22023", "MESSAGE"),
        ("MESSAGE an object", #"SELECT outbox.enqueue('main', 'notify.system', '{"USER_ID": 1, "MESSAGE": {"a": 1}}')"#, "22023", "MESSAGE"),
        ("MESSAGE_OUT too long", "SELECT outbox.enqueue('main', 'notify.personal', jsonb_build_object('USER_ID', 1, 'MESSAGE', 'x', 'MESSAGE_OUT', repeat('m', 20001)))", "22023", "MESSAGE_OUT"),
        ("ATTACH oversized", "SELECT outbox.enqueue('main', 'notify.personal', jsonb_build_object('USER_ID', 1, 'MESSAGE', 'x', 'ATTACH', jsonb_build_array(jsonb_build_object('MESSAGE', repeat('a', 60001)))))", "22023", "ATTACH"),
        ("ATTACH unknown block", #"SELECT outbox.enqueue('main', 'notify.personal', '{"USER_ID": 1, "MESSAGE": "x", "ATTACH": [{"HTML": "<b>"}]}')"#, "22023", "ATTACH block 1"),
        ("chat USERS with a string", #"SELECT outbox.enqueue_chat('main', '{"TITLE": "t", "USERS": [1, "2"]}')"#, "22023", "USERS"),
        ("chat TYPE unknown", #"SELECT outbox.enqueue_chat('main', '{"TYPE": "PRIVATE"}')"#, "22023", "TYPE"),
        ("chat fields an array", "SELECT outbox.enqueue_chat('main', '[]')", "22023", "payload"),
        ("portal name with SQL", "SELECT outbox.enqueue_notification('main''; DROP TABLE outbox.log; --', 1, 'x')", "22023", "portal"),
        ("portal null", "SELECT outbox.enqueue_notification(NULL, 1, 'x')", "22023", "portal"),
        ("key with control characters", "SELECT outbox.enqueue_notification('main', 1, 'x', p_key => E'a\\nb')", "22023", "key"),
        ("bulk arrays of different lengths", "SELECT outbox.enqueue_many(ARRAY['main', 'main'], ARRAY['notify.personal'], ARRAY['{}'::jsonb], ARRAY[NULL::text], ARRAY[NULL::timestamptz])", "22023", "intents"),
        ("bulk with one bad item", #"SELECT outbox.enqueue_many(ARRAY['main', 'main'], ARRAY['notify.personal', 'notify.personal'], ARRAY['{"USER_ID": 1, "MESSAGE": "ok"}', '{"USER_ID": 0, "MESSAGE": "bad"}']::jsonb[], ARRAY[NULL, NULL]::text[], ARRAY[NULL, NULL]::timestamptz[])"#, "22023", "USER_ID"),
        ("payload not JSON", "SELECT outbox.enqueue('main', 'notify.personal', '{USER_ID: 1}')", "22P02", nil),
        ("user id not a number", "SELECT outbox.enqueue_notification('main', 'ten', 'x')", "22P02", nil),
        ("invalid UTF-8", "SELECT outbox.enqueue_notification('main', 1, convert_from('\\xc328'::bytea, 'UTF8'))", "22021", nil),
        ("NUL in text", #"SELECT outbox.enqueue('main', 'notify.personal', '{"USER_ID": 1, "MESSAGE": "a\u0000b"}')"#, "22P05", nil),
    ] as [(String, String, String, String?)])
    func sqlFunctionRefusals(name: String, sql: String, sqlState: String, column: String?) throws {
        let before = try tableCounts()
        let error = try #require(throws: PostgresError.self, "\(name)") { try db.execute(sql) }
        #expect(error.code.rawValue == sqlState, "\(name): \(error)")
        if let column {
            #expect(error.column == column, "\(name): \(error)")
            #expect(error.message.contains("\(column):"), "\(name) names its field: \(error.message)")
        }
        #expect(try tableCounts() == before, "\(name) wrote something")
    }

    /// CLI producers: exit status 1 (64 for usage errors) and a message naming what was wrong.
    @Test func commandLineRefusals() throws {
        let cases: [(name: String, arguments: [String], says: String)] = [
            ("negative user", ["enqueue", "notify", "--portal", "main", "--user=-3", "--text", "x"], "USER_ID"),
            ("user not a number", ["enqueue", "notify", "--portal", "main", "--user", "ten", "--text", "x"], "--user"),
            ("huge user", ["enqueue", "notify", "--portal", "main", "--user", "99999999999", "--text", "x"], "USER_ID"),
            ("empty text", ["enqueue", "notify", "--portal", "main", "--user", "1", "--text", ""], "MESSAGE"),
            ("missing text", ["enqueue", "system", "--portal", "main", "--user", "1"], "--text"),
            ("unknown portal", ["enqueue", "notify", "--portal", "nowhere", "--user", "1", "--text", "x"], "unknown portal"),
            ("blocks not JSON", ["enqueue", "notify", "--portal", "main", "--user", "1", "--text", "x", "--blocks", "[{"], "--blocks"),
            ("blocks unknown type", ["enqueue", "notify", "--portal", "main", "--user", "1", "--text", "x", "--blocks", #"[{"MARQUEE": "hi"}]"#], "ATTACH"),
            ("blocks file missing", ["enqueue", "notify", "--portal", "main", "--user", "1", "--text", "x", "--blocks", "@/nonexistent/blocks.json"], "cannot read"),
            ("chat fields not an object", ["enqueue", "chat", "--portal", "main", "--fields", "[1]"], "--fields"),
            ("chat bad color", ["enqueue", "chat", "--portal", "main", "--fields", #"{"COLOR": "ULTRAVIOLET"}"#], "COLOR"),
            ("bad --at", ["enqueue", "notify", "--portal", "main", "--user", "1", "--text", "x", "--at", "tomorrow"], "--at"),
            ("portal name with SQL", ["enqueue", "notify", "--portal", "main'; DROP TABLE outbox.log; --", "--user", "1", "--text", "x"], "unknown portal"),
        ]
        let before = try tableCounts()
        for c in cases {
            let output = try CLI.run(c.arguments + ["--database-url", scratch.conninfo])
            #expect(output.status != 0, "\(c.name) was accepted")
            #expect(output.stderr.contains(c.says), "\(c.name): \(output.stderr)")
            #expect(output.stdout.isEmpty, "\(c.name) printed an id: \(output.stdout)")
        }
        #expect(try tableCounts() == before)
    }
}
