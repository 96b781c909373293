import Bitrix24
import Foundation
import Outbox
import Postgres
import Synchronization
import Testing
import TestSupport

/// Idempotency keys live in `outbox.intent_keys`, written once when the intent is created: a
/// repeated key returns the first intent's id however it arrives, and `verify` checks that
/// every intent has its key.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct IntentKeyTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        (scratch, db) = try migratedDatabase()
    }

    func notification(_ message: String, key: String) -> NewIntent {
        .notification(portal: "main", user: 1, message: message, key: key)
    }

    func count(_ sql: String) throws -> Int64 {
        try db.query(sql).first!.decode(0)
    }

    @Test("a producer racing another for the same key waits, then gets the other's id and writes nothing", arguments: [false, true])
    func racingProducersShareOneIntent(bulk: Bool) throws {
        let first = try scratch.connect()
        defer { first.close() }
        try first.execute("BEGIN")
        let id = try Producer.enqueue(notification("first", key: "race"), on: first)

        let intents = bulk ? [notification("second", key: "race"), notification("other", key: "other")]
                           : [notification("second", key: "race")]
        let conninfo = scratch.conninfo
        let answer = Mutex<Result<[Int64], any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let result = Result { () throws -> [Int64] in
                let second = try Connection(conninfo)
                defer { second.close() }
                return intents.count > 1 ? try Producer.enqueue(intents, on: second) : [try Producer.enqueue(intents[0], on: second)]
            }
            answer.withLock { $0 = result }
            done.signal()
        }
        // The second producer is held on the first one's key until that commits.
        #expect(done.wait(timeout: .now() + 0.5) == .timedOut)
        try first.execute("COMMIT")
        #expect(done.wait(timeout: .now() + 10) == .success)
        let ids = try #require(answer.withLock { $0 }).get()
        #expect(ids[0] == id)
        #expect(try count("SELECT count(*) FROM outbox.intents WHERE idempotency_key = 'race'") == 1)
        #expect(try count("SELECT count(*) FROM outbox.log WHERE type = 'intent.enqueued' AND data->>'key' = 'race'") == 1)
        #expect(try db.query("SELECT payload->>'MESSAGE' FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: String.self) == "first")
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test("verify reports an intent without its key and a key without its intent")
    func verifyChecksTheKeys() throws {
        let id = try Producer.enqueue(notification("kept", key: "k-1"), on: db)
        #expect(try Verifier().verify(on: db).isConsistent)
        try db.execute("DELETE FROM outbox.intent_keys WHERE intent_id = $1", [id])
        try db.execute("INSERT INTO outbox.intent_keys (portal_id, kind, idempotency_key, intent_id) VALUES (1, 'notify.personal', 'ghost', 999)")
        let other = try Producer.enqueue(notification("other", key: "k-2"), on: db)
        try db.execute("INSERT INTO outbox.intent_keys (portal_id, kind, idempotency_key, intent_id) VALUES (1, 'notify.system', 'k-2', $1)", [other])
        let problems = try Verifier().verify(on: db).mismatches.map(\.description)
        #expect(problems == [
            "intent \(id): its idempotency key is not in intent_keys",
            "intent \(other): an idempotency key of another portal, kind or text names it",
            "intent 999: an idempotency key names it, but it has no row",
        ])
    }

    @Test("intents deleted or truncated by their owner take their keys along, so the keys can be used again")
    func deletedIntentsFreeTheirKeys() throws {
        let id = try Producer.enqueue(notification("once", key: "k-1"), on: db)
        let kept = try Producer.enqueue(notification("kept", key: "k-2"), on: db)
        // (Its log entries stay: the log is append-only.)
        try db.execute("DELETE FROM outbox.intents WHERE id = $1", [id])
        #expect(try count("SELECT count(*) FROM outbox.intent_keys") == 1)
        let again = try Producer.enqueue(notification("twice", key: "k-1"), on: db)
        #expect(again > kept)
        #expect(try Producer.enqueue(notification("kept again", key: "k-2"), on: db) == kept)
        // Truncated, all of them go, even where ordinary triggers are skipped.
        try db.execute("SET session_replication_role = replica")
        try db.execute("TRUNCATE outbox.intents")
        try db.execute("RESET session_replication_role")
        #expect(try count("SELECT count(*) FROM outbox.intent_keys") == 0)
        #expect(try Producer.enqueue(notification("after the truncate", key: "k-2"), on: db) > again)
    }

    @Test("an intent's id, kind and key never change, so its key keeps naming it")
    func anIntentKeepsItsIdentity() throws {
        let id = try Producer.enqueue(notification("fixed", key: "k-1"), on: db)
        for change in ["id = DEFAULT", "kind = 'notify.system'", "idempotency_key = 'k-9'"] {
            let error = try #require(throws: PostgresError.self) { try db.execute("UPDATE outbox.intents SET \(change) WHERE id = $1", [id]) }
            #expect(error.code == .restrictViolation)
        }
        // Setting them to what they are is no change.
        try db.execute("UPDATE outbox.intents SET kind = kind, idempotency_key = idempotency_key WHERE id = $1", [id])
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test("migrating copies the keys of existing intents, and a repeated key still finds its intent")
    func migrationCopiesExistingKeys() throws {
        let old = try ScratchDatabase()
        let oldDB = try old.connect()
        defer { oldDB.close() }
        let before = Migration.bundled.filter { $0.name < "013" }
        try Migrator(migrations: before).migrate(on: oldDB)
        try oldDB.execute("""
            INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code)
            VALUES ('main', 'https://example.bitrix24.com', 'webhook', 1, 'c0de')
            """)
        let id = try Producer.enqueue(notification("before", key: "k-old"), on: oldDB)
        try Migrator().migrate(on: oldDB)
        let keys = try oldDB.query("SELECT idempotency_key, intent_id FROM outbox.intent_keys").map {
            "\(try $0.decode(0, as: String.self))=\(try $0.decode(1, as: Int64.self))"
        }
        #expect(keys == ["k-old=\(id)"])
        #expect(try Producer.enqueue(notification("after", key: "k-old"), on: oldDB) == id)
        #expect(try Producer.enqueue(notification("new", key: "k-new"), on: oldDB) > id)
        #expect(try Verifier().verify(on: oldDB).isConsistent)
    }
}
