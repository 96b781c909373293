import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct ProducerTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        (scratch, db) = try migratedDatabase()
    }

    func counts() throws -> [Int] {
        try db.query("SELECT (SELECT count(*) FROM outbox.intents), (SELECT count(*) FROM outbox.log)")
            .first.map { [try $0.decode(0), try $0.decode(1)] } ?? []
    }

    @Test func enqueueWritesTheIntentAndItsLogEntryWithADerivedTag() throws {
        let id = try Producer.enqueue(.notification(portal: "main", user: 10, message: "Hello"), on: db)
        let row = try db.query("SELECT status, payload, idempotency_key FROM outbox.intents WHERE id = $1", [id]).first!
        #expect(try row.decode(0, as: String.self) == "pending")
        let payload = try JSONValue(jsonData: Data(try row.decode(1, as: String.self).utf8))
        #expect(payload["USER_ID"] == 10)
        #expect(payload["TAG"]?.stringValue?.hasPrefix("b24o:") == true)
        #expect(try row.decode(2, as: String.self).hasPrefix("auto:"))
        let log = try db.query("SELECT type, stream FROM outbox.log WHERE intent_id = $1", [id])
        #expect(log.count == 1)
        #expect(try log[0].decode(0, as: String.self) == "intent.enqueued")
        #expect(try log[0].decode(1, as: String.self) == "intent-\(id)")
    }

    @Test func repeatedKeyReturnsTheSameIdAndWritesNothing() throws {
        let first = try Producer.enqueue(.notification(portal: "main", user: 10, message: "A", key: "order-7"), on: db)
        let before = try counts()
        let again = try Producer.enqueue(.notification(portal: "main", user: 10, message: "B", key: "order-7"), on: db)
        #expect(again == first)
        #expect(try counts() == before)
        // The same key for another kind is another intent.
        let system = try Producer.enqueue(.notification(portal: "main", user: 10, message: "A", system: true, key: "order-7"), on: db)
        #expect(system != first)
    }

    @Test func withoutAKeyIdenticalIntentsAreOne() throws {
        let a = try Producer.enqueue(.notification(portal: "main", user: 3, message: "same"), on: db)
        let b = try Producer.enqueue(.notification(portal: "main", user: 3, message: "same"), on: db)
        let c = try Producer.enqueue(.notification(portal: "main", user: 4, message: "same"), on: db)
        #expect(a == b)
        #expect(a != c)
    }

    @Test func rolledBackProducerTransactionLeavesNothing() throws {
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try db.transaction { db in
                _ = try Producer.enqueue(.notification(portal: "main", user: 10, message: "x"), on: db)
                _ = try db.query("SELECT outbox.enqueue_notification('main', 11, 'from SQL')")
                _ = try db.query("SELECT outbox.enqueue_chat('main', '{\"TITLE\": \"t\"}'::jsonb, 'chat-1')")
                throw Abort()
            }
        }
        #expect(try counts() == [0, 0])
    }

    @Test func chatsCarryAnEntityPairDerivedFromTheKey() throws {
        let id = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "Deal 7", "USERS": [1, 2]], key: "deal-7"), on: db)
        let payload = try JSONValue(jsonData: Data(try db.query(
            "SELECT payload::text FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: String.self).utf8))
        #expect(payload["ENTITY_TYPE"] == "B24OUTBOX")
        #expect(payload["ENTITY_ID"] == "deal-7")
    }

    @Test func bulkEnqueueReturnsIdsInOrderAndIsAllOrNothing() throws {
        let intents = (1...500).map { NewIntent.notification(portal: "main", user: Int64($0), message: "n\($0)", key: "bulk-\($0)") }
        let ids = try Producer.enqueue(intents, on: db)
        #expect(ids.count == 500)
        #expect(ids == ids.sorted())
        #expect(try counts() == [500, 500])

        var bad = (1...3).map { NewIntent.notification(portal: "main", user: 1000 + Int64($0), message: "ok", key: "more-\($0)") }
        bad[1].payload["USER_ID"] = -5
        let error = try #require(throws: EnqueueError.self) { try Producer.enqueue(bad, on: db) }
        #expect(error.field == "USER_ID")
        #expect(error.message.hasPrefix("intent 2: USER_ID"))
        #expect(try counts() == [500, 500])
    }

    @Test func notBeforeDelaysTheFirstAttempt() throws {
        let later = Date().addingTimeInterval(3600)
        let id = try Producer.enqueue(.notification(portal: "main", user: 1, message: "later", notBefore: later), on: db)
        let due = try db.query("SELECT next_attempt_at FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: Date.self)
        #expect(abs(due.timeIntervalSince(later)) < 0.001)
    }

    /// Each refused input names its field and leaves every table as it was.
    @Test(arguments: [
        ("USER_ID", NewIntent.notification(portal: "main", user: 0, message: "x")),
        ("USER_ID", NewIntent.notification(portal: "main", user: -1, message: "x")),
        ("USER_ID", NewIntent.notification(portal: "main", user: 4_000_000_000, message: "x")),
        ("USER_ID", NewIntent(portal: "main", kind: .notifyPersonal, payload: ["USER_ID": "10", "MESSAGE": "x"])),
        ("USER_ID", NewIntent(portal: "main", kind: .notifyPersonal, payload: ["MESSAGE": "x"])),
        ("MESSAGE", NewIntent.notification(portal: "main", user: 1, message: "")),
        ("MESSAGE", NewIntent.notification(portal: "main", user: 1, message: " \n\t ")),
        ("MESSAGE", NewIntent.notification(portal: "main", user: 1, message: String(repeating: "x", count: 20_001))),
        ("TAG", NewIntent.notification(portal: "main", user: 1, message: "x", tag: String(repeating: "t", count: 201))),
        ("ATTACH block 1", NewIntent.notification(portal: "main", user: 1, message: "x", attach: [["VIDEO": ["LINK": "u"]]])),
        ("ATTACH block 1", NewIntent.notification(portal: "main", user: 1, message: "x", attach: [["MESSAGE": "a", "LINK": ["LINK": "u"]]])),
        ("ATTACH block 1 LINK", NewIntent.notification(portal: "main", user: 1, message: "x", attach: [["LINK": ["NAME": "no url"]]])),
        ("ATTACH block 2 GRID", NewIntent.notification(portal: "main", user: 1, message: "x", attach: [["MESSAGE": "ok"], ["GRID": [["DISPLAY": "WIDE"]]]])),
        ("ATTACH", NewIntent.notification(portal: "main", user: 1, message: "x", attach: "not blocks")),
        ("ATTACH", NewIntent.notification(portal: "main", user: 1, message: "x", attach: [["MESSAGE": .string(String(repeating: "y", count: 60_001))]])),
        ("SENDER", NewIntent(portal: "main", kind: .notifyPersonal, payload: ["USER_ID": 1, "MESSAGE": "x", "SENDER": "me"])),
        ("TYPE", NewIntent.chat(portal: "main", fields: ["TYPE": "SECRET"])),
        ("COLOR", NewIntent.chat(portal: "main", fields: ["COLOR": "BLACK"])),
        ("TITLE", NewIntent.chat(portal: "main", fields: ["TITLE": .string(String(repeating: "T", count: 256))])),
        ("USERS", NewIntent.chat(portal: "main", fields: ["USERS": "1,2"])),
        ("USERS", NewIntent.chat(portal: "main", fields: ["USERS": [1, -2]])),
        ("OWNER_ID", NewIntent.chat(portal: "main", fields: ["OWNER_ID": 1])),
        ("ENTITY_ID", NewIntent.chat(portal: "main", fields: ["ENTITY_TYPE": "CRM"])),
        ("portal", NewIntent.notification(portal: "nowhere", user: 1, message: "x")),
        ("key", NewIntent.notification(portal: "main", user: 1, message: "x", key: "")),
        ("key", NewIntent.notification(portal: "main", user: 1, message: "x", key: String(repeating: "k", count: 201))),
    ])
    func validationErrorsNameTheFieldAndWriteNothing(field: String, intent: NewIntent) throws {
        let before = try counts()
        let error = try #require(throws: EnqueueError.self) { try Producer.enqueue(intent, on: db) }
        #expect(error.field == field)
        #expect(error.message.hasPrefix("\(field):") || error.message.hasPrefix("\(field) "))
        #expect(try counts() == before)
    }

    @Test func sqlFunctionsRaiseTheSameErrorsWithSQLState() throws {
        let error = try #require(throws: PostgresError.self) {
            try db.query("SELECT outbox.enqueue_notification('main', 10, '')")
        }
        #expect(error.code == .invalidParameterValue)
        #expect(error.column == "MESSAGE")
        #expect(try counts() == [0, 0])
    }
}
