import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("Log archive", .enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct LogArchiveTests {
    /// The months around now, as PostgreSQL's clock (UTC) sees them: offset 0 is the current month.
    static func month(_ offset: Int, on db: Connection) throws -> LogMonth {
        LogMonth(try db.query(
            "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => $1::int), 'YYYY-MM')",
            [offset]).first!.decode(0, as: String.self))!
    }

    /// A delivered intent whose entries were recorded at the given times (enqueue, claim,
    /// success), as the log's owner writes fixtures: the seq is the identity's, the times are ours.
    @discardableResult
    static func oldIntent(_ key: String, at times: [String], status: String = "delivered", on db: Connection) throws -> Int64 {
        let id: Int64 = try db.query("""
            WITH intent AS (
                INSERT INTO outbox.intents (portal_id, kind, payload, idempotency_key, status, attempts, result_id, delivered_at,
                                            lease_owner, lease_expires_at)
                VALUES (1, 'notify.personal', '{"USER_ID": 1, "MESSAGE": "old"}', $1, $2, $3, $4, $5::timestamptz, $6, $7::timestamptz)
                RETURNING id, portal_id, kind, idempotency_key
            ), key AS (
                INSERT INTO outbox.intent_keys (portal_id, kind, idempotency_key, intent_id)
                SELECT portal_id, kind, idempotency_key, id FROM intent
            )
            SELECT id FROM intent
            """, [key, status, times.count > 1 ? 1 : 0, status == "delivered" ? Int64(7) : nil,
                  status == "delivered" ? times.last : nil, status == "claimed" ? "old-worker" : nil,
                  status == "claimed" ? "2100-01-01T00:00:00Z" : nil]).first!.decode(0)
        let entries: [(String, String)] = [
            ("intent.enqueued", #"{"key": "k"}"#), ("intent.claimed", #"{"attempt": 1, "worker": "old-worker"}"#),
            ("delivery.succeeded", #"{"result_id": 7, "text": "tab\there \\ and \"quoted\" ü"}"#),
        ]
        for (time, entry) in zip(times, entries) {
            try db.execute("""
                INSERT INTO outbox.log (recorded_at, stream, type, intent_id, portal_id, data)
                VALUES ($1::timestamptz, $2, $3, $4, 1, $5::jsonb)
                """, [time, "intent-\(id)", entry.0, id, entry.1])
        }
        return id
    }

    static func day(_ month: LogMonth, _ day: Int) -> String {
        "\(month)-\(day < 10 ? "0" : "")\(day)T12:00:00Z"
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appending(path: "b24outbox-archive-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("archiving old months writes checked files, records them in the log, drops exactly those months, and verify stays ok")
    func archiveOldMonths() async throws {
        try await DeliveryHarness.with { h in
            let db = h.db
            // Five intents delivered now, then four from months ago (a worker would file those
            // into their months at once: the fixtures come after it has gone).
            _ = try Producer.enqueue((1...5).map { .notification(portal: h.portal, user: Int64($0), message: "now \($0)") }, on: db)
            try await h.deliver()
            let (m3, m2) = (try Self.month(-3, on: db), try Self.month(-2, on: db))
            try Self.oldIntent("a", at: [Self.day(m3, 3), Self.day(m3, 3), Self.day(m3, 4)], on: db)
            try Self.oldIntent("b", at: [Self.day(m3, 28), Self.day(m3, 28), Self.day(m2, 2)], on: db)
            let pending = try Self.oldIntent("c", at: [Self.day(m3, 20)], status: "pending", on: db)
            let whole = try Self.oldIntent("d", at: [Self.day(m2, 5), Self.day(m2, 5), Self.day(m2, 6)], on: db)
            let directory = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let archiver = LogArchiver(before: m2, directory: directory)

            // The old entries went to the default partition: they are filed into their months first.
            #expect(throws: LogArchiver.ArchiveError.self) { try archiver.plan(on: db) }
            #expect(try LogPartitions.ensure(on: db) == ["outbox.\(m3.partition)", "outbox.\(m2.partition)"])

            // A month with an intent still pending stays.
            let refused = try #require(throws: LogArchiver.ArchiveError.self) { try archiver.plan(on: db) }
            #expect(refused.description.contains("pending or claimed (\(pending))"))
            _ = try IntentStore.cancel([pending], by: "test", on: db)

            let oldRows = try db.query("""
                SELECT seq::text || E'\\t' || type || E'\\t' || intent_id::text FROM outbox.log
                 WHERE recorded_at < $1::timestamptz ORDER BY seq
                """, [m2.start]).map { try $0.decode(0, as: String.self) }
            #expect(oldRows.count == 6)
            let keptRows = try db.query("SELECT count(*) FROM outbox.log").first!.decode(0, as: Int.self) - oldRows.count

            // A dry run through the CLI lists the month and changes nothing.
            let dry = try await CLI.runDetached(["log", "archive", "--before", "\(m2)", "--to", directory.path, "--dry-run", "--json",
                                   "--database-url", h.scratch.conninfo])
            #expect(dry.status == 0, "\(dry.stderr)")
            #expect(dry.stdout.contains("\"partition\" : \"outbox.\(m3.partition)\""))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)

            let run = try await CLI.runDetached(["log", "archive", "--before", "\(m2)", "--to", directory.path, "--database-url", h.scratch.conninfo])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("archived 1 months, 6 entries"))

            // The file holds exactly those rows, and its checksum is what the log recorded.
            let file = directory.appending(path: "\(m3.partition).copy")
            let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.last == "")
            let fields = lines.dropLast().map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
            #expect(fields.allSatisfy { $0.count == LogArchiver.columns.count })
            #expect(fields.map { "\($0[0])\t\($0[3])\t\($0[4])" } == oldRows)
            #expect(fields.contains { $0[6].contains(#"tab\\there \\\\ and \\"quoted\\" ü"#) })
            let sha = try Self.sha256sum(file)
            let recorded = try db.query("""
                SELECT data->>'sha256', (data->>'rows')::int, data->>'month', data->>'file', (data->>'first_seq')::bigint,
                       (data->>'max_intent_id')::bigint
                  FROM outbox.log WHERE type = 'log.archived'
                """)
            #expect(recorded.count == 1)
            #expect(try recorded[0].decode(0, as: String.self) == sha)
            #expect(try recorded[0].decode(1, as: Int.self) == 6)
            #expect(try recorded[0].decode(2, as: String.self) == m3.description)
            #expect(try recorded[0].decode(3, as: String.self) == "\(m3.partition).copy")
            #expect(try recorded[0].decode(4, as: Int64.self) == Int64(oldRows[0].split(separator: "\t")[0]))
            #expect(try recorded[0].decode(5, as: Int64.self) == pending)
            #expect(try String(contentsOf: directory.appending(path: "\(m3.partition).copy.sha256"), encoding: .utf8)
                == "\(sha)  \(m3.partition).copy\n")
            #expect(try db.query("SELECT sha256, rows, max_intent_id FROM outbox.log_archives").first!.decode(0, as: String.self) == sha)

            // Exactly that month left; everything else is where it was, plus the log.archived entry.
            #expect(try db.query("SELECT to_regclass($1) IS NULL", ["outbox.\(m3.partition)"]).first!.decode(0, as: Bool.self))
            #expect(try db.query("SELECT to_regclass($1) IS NOT NULL", ["outbox.\(m2.partition)"]).first!.decode(0, as: Bool.self))
            #expect(try db.query("SELECT count(*) FROM outbox.log").first!.decode(0, as: Int.self) == keptRows + 1)
            #expect(try db.query("SELECT count(*) FROM outbox.log WHERE recorded_at < $1::timestamptz", [m2.start]).first!.decode(0, as: Int.self) == 0)

            // verify folds every intent whose history is whole and says how many it could not.
            let report = try Verifier().verify(on: db)
            #expect(report.isConsistent, "\(report.mismatches)")
            #expect(report.skipped == 3, "a, b and c began in the archived month")
            #expect(report.archivedIntentsThrough == pending)
            #expect(report.intents == 9)
            let cli = try await CLI.runDetached(["verify", "--database-url", h.scratch.conninfo])
            #expect(cli.status == 0, "\(cli.stdout)")
            #expect(cli.stdout.contains("3 intents not checked"))

            // And it still catches a real mismatch in what remains.
            // Intent 1 is below the archived ids but its history is whole here; d is above them.
            try db.execute("UPDATE outbox.intents SET attempts = attempts + 1 WHERE id IN (1, $1)", [whole])
            #expect(try Verifier().verify(on: db).mismatches.map(\.intentID) == [1, whole])
        }
    }

    @Test("bad input is a clear error, and nothing is written or dropped")
    func badInput() throws {
        let scratch = try ScratchDatabase()
        let db = try scratch.connect()
        try Migrator().migrate(on: db)
        let (m2, now, next) = (try Self.month(-2, on: db), try Self.month(0, on: db), try Self.month(1, on: db))
        try db.execute("INSERT INTO outbox.log (recorded_at, stream, type) VALUES ($1::timestamptz, 'portal-main', 'portal.added')",
                       [Self.day(m2, 10)])
        try LogPartitions.ensure(on: db)
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plainFile = directory.appending(path: "plain-file")
        try Data("x".utf8).write(to: plainFile)
        func state() throws -> String {
            try db.query("""
                SELECT (SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                         WHERE i.inhparent = 'outbox.log'::regclass)
                       || ' ' || (SELECT count(*) FROM outbox.log) || ' ' || (SELECT count(*) FROM outbox.log_archives)
                """).first!.decode(0)
        }
        let before = try state()
        let cases: [(arguments: [String], error: String)] = [
            (["--before", "2026-13", "--to", directory.path], "--before must be a month as YYYY-MM"),
            (["--before", "26-01", "--to", directory.path], "--before must be a month as YYYY-MM"),
            (["--before", "2026-1", "--to", directory.path], "--before must be a month as YYYY-MM"),
            (["--before", "\(now)-01", "--to", directory.path], "--before must be a month as YYYY-MM"),
            (["--before", "'; DROP TABLE outbox.log; --", "--to", directory.path], "--before must be a month as YYYY-MM"),
            (["--before", "\(next)", "--to", directory.path], "after the current month"),
            (["--before", "\(m2)", "--to", directory.path], "nothing to archive before \(m2): the oldest month in the log is \(m2)"),
            (["--before", "\(now)", "--to", directory.appending(path: "missing").path], "is not a directory"),
            (["--before", "\(now)", "--to", plainFile.path], "is not a directory"),
            (["--before", "\(now)", "--to", ""], "--to must name a directory"),
        ]
        for c in cases {
            let output = try CLI.run(["log", "archive"] + c.arguments + ["--database-url", scratch.conninfo])
            #expect(output.status != 0, "\(c.arguments)")
            #expect(output.stderr.contains(c.error), "\(c.arguments): \(output.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["plain-file"])
            #expect(try state() == before)
        }

        // An archive already in the directory is never overwritten.
        try Data().write(to: directory.appending(path: "\(m2.partition).copy"))
        let existing = try CLI.run(["log", "archive", "--before", "\(now)", "--to", directory.path, "--database-url", scratch.conninfo])
        #expect(existing.stderr.contains("already exists"))
        #expect(try state() == before)

        // Only the log's owner may archive.
        try FileManager.default.removeItem(at: directory.appending(path: "\(m2.partition).copy"))
        try db.execute("SET ROLE b24outbox_audit")
        let notOwner = try #require(throws: LogArchiver.ArchiveError.self) {
            try LogArchiver(before: now, directory: directory).archive(on: db)
        }
        #expect(notOwner.description.contains("only the owner of outbox.log"))
        try db.execute("RESET ROLE")
        #expect(try state() == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["plain-file"])
    }

    @Test("two archive runs at once into one directory archive each month exactly once and never spoil a file")
    func concurrentRuns() async throws {
        let scratch = try ScratchDatabase()
        let db = try scratch.connect()
        try Migrator().migrate(on: db)
        let (m3, m2, m1) = (try Self.month(-3, on: db), try Self.month(-2, on: db), try Self.month(-1, on: db))
        try db.execute("""
            INSERT INTO outbox.log (recorded_at, stream, type, data)
            SELECT $1::timestamptz + (n % 2) * interval '1 month' + n * interval '1 second', 'portal-main', 'portal.moved',
                   jsonb_build_object('n', n)
              FROM generate_series(1, 20000) n
            """, [Self.day(m3, 2)])
        try LogPartitions.ensure(on: db)
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let conninfo = scratch.conninfo
        let runs = await withTaskGroup(of: Result<[LogArchiver.Month], any Error>.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    Result { try LogArchiver(before: m1, directory: directory).archive(on: try Connection(conninfo)) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let archived = runs.flatMap { (try? $0.get()) ?? [] }
        for case .failure(let error) in runs { #expect(error is LogArchiver.ArchiveError, "\(error)") }
        #expect(Set(archived.map(\.month)).isSubset(of: [m3, m2]))
        let recorded = try db.query("SELECT file_name, sha256, rows FROM outbox.log_archives ORDER BY month")
        #expect(recorded.count == 2)
        #expect(try recorded.map { try $0.decode(0, as: String.self) } == ["\(m3.partition).copy", "\(m2.partition).copy"])
        for row in recorded {
            let file = directory.appending(path: try row.decode(0, as: String.self))
            #expect(try Self.sha256sum(file) == (try row.decode(1, as: String.self)))
            #expect(try row.decode(2, as: Int.self) == 10_000)
        }
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: directory.path)) == [
            "\(m3.partition).copy", "\(m3.partition).copy.sha256", "\(m2.partition).copy", "\(m2.partition).copy.sha256",
        ])
    }

    static func sha256sum(_ file: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sha256sum", file.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(String(decoding: data, as: UTF8.self).prefix(64))
    }
}
