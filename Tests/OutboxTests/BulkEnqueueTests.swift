import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// The set-based path of `outbox.enqueue_many` must give exactly what the item-by-item path
/// gives: the same ids, keys, TAGs, log entries and wake-ups, and accept nothing the rules refuse.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct BulkEnqueueTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        (scratch, db) = try migratedDatabase()
    }

    func notification(_ user: Int64, _ message: String, tag: String? = nil, key: String? = nil) -> NewIntent {
        .notification(portal: "main", user: user, message: message, tag: tag, key: key)
    }

    @Test func setBasedIntentsMatchSingleEnqueues() throws {
        var intents: [NewIntent] = []
        for index in 1...300 {
            let key: String? = index % 3 == 0 ? nil : "order-\(index)"
            intents.append(notification(Int64(index % 7 + 1), "Order \(index) shipped", key: key))
        }
        intents.append(notification(9, "with a tag of its own", tag: "mine"))
        let ids = try Producer.enqueue(intents, on: db)
        #expect(ids.count == intents.count)
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        // Each one again, alone: the same key and TAG derivation finds the same intent.
        for (intent, id) in zip(intents, ids) {
            #expect(try Producer.enqueue(intent, on: db) == id)
        }
        let row = try db.query("SELECT payload->>'TAG', idempotency_key FROM outbox.intents WHERE id = $1", [ids.last!]).first!
        #expect(try row.decode(0, as: String.self) == "mine")
        let entries: [Int64] = try db.query("""
            SELECT count(*) FROM outbox.log l JOIN outbox.intents i ON i.id = l.intent_id
             WHERE l.type = 'intent.enqueued' AND l.stream = 'intent-' || i.id
               AND l.data->'payload' = i.payload AND l.data->>'key' = i.idempotency_key
            """).map { try $0.decode(0) }
        #expect(entries == [Int64(intents.count)])
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test func repeatedKeysInOneCallAndFromBeforeReturnTheFirstId() throws {
        let first = try Producer.enqueue(notification(1, "first", key: "k-1"), on: db)
        let ids = try Producer.enqueue([
            notification(2, "again", key: "k-1"), notification(3, "new", key: "k-2"), notification(4, "new again", key: "k-2"),
        ], on: db)
        #expect(ids[0] == first)
        #expect(ids[1] == ids[2])
        let counts = try db.query("SELECT (SELECT count(*) FROM outbox.intents), (SELECT count(*) FROM outbox.log)").first!
        #expect(try counts.decode(0, as: Int64.self) == 2)
        #expect(try counts.decode(1, as: Int64.self) == 2)
        let message: String = try db.query("SELECT payload->>'MESSAGE' FROM outbox.intents WHERE id = $1", [ids[1]]).first!.decode(0)
        #expect(message == "new")
    }

    @Test func workersAreWokenOnCommit() throws {
        let listener = try scratch.connect()
        try listener.listen("outbox_intents")
        let intents: [NewIntent] = (1...50).map { (user: Int64) in notification(user, "wake up \(user)") }
        _ = try Producer.enqueue(intents, on: db)
        let wakeUp = try listener.waitForNotification(timeout: .seconds(5))
        #expect(wakeUp?.channel == "outbox_intents")
    }

    @Test func aNullTagGetsADerivedOneAsNoTagDoes() throws {
        let withNull = NewIntent(portal: "main", kind: .notifyPersonal, payload: ["USER_ID": 5, "MESSAGE": "hi", "TAG": .null], key: "n-1")
        let without = NewIntent(portal: "main", kind: .notifyPersonal, payload: ["USER_ID": 5, "MESSAGE": "hi"], key: "n-1")
        let id = try Producer.enqueue(withNull, on: db)
        #expect(try Producer.enqueue(without, on: db) == id)
        #expect(try Producer.enqueue([withNull, without], on: db) == [id, id])
        let tag: String? = try db.query("SELECT payload->>'TAG' FROM outbox.intents WHERE id = $1", [id]).first!.decode(0)
        #expect(tag?.hasPrefix("b24o:") == true)
        // A chat has no TAG: a null one is still an unknown field there.
        #expect(throws: EnqueueError.self) {
            try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "t", "TAG": .null]), on: db)
        }
    }

    @Test func onlyANewIntentWakesTheWorkers() throws {
        let first: [NewIntent] = [notification(1, "once", key: "w-1"), notification(2, "twice", key: "w-2")]
        _ = try Producer.enqueue(first, on: db)
        let listener = try scratch.connect()
        try listener.listen("outbox_intents")
        _ = try Producer.enqueue(first, on: db)
        #expect(try listener.waitForNotification(timeout: .milliseconds(300)) == nil)
    }

    @Test func arraysThatAreNotPlainListsAreRefused() throws {
        let before: Int64 = try db.query("SELECT count(*) FROM outbox.log").first!.decode(0)
        let payload = #"'{"USER_ID": 1, "MESSAGE": "a"}'::jsonb"#
        let calls = [
            // Two dimensions: unnest would see two items where subscripts see none.
            """
            SELECT outbox.enqueue_many(ARRAY[['main', 'main']], ARRAY[['notify.personal', 'notify.personal']],
                ARRAY[[\(payload), \(payload)]], ARRAY[['a', 'b']], ARRAY[[NULL, NULL]]::timestamptz[])
            """,
            // Numbered from 0.
            """
            SELECT outbox.enqueue_many(array_fill('main'::text, '{1}', '{0}'), array_fill('notify.personal'::text, '{1}', '{0}'),
                array_fill(\(payload), '{1}', '{0}'), array_fill('a'::text, '{1}', '{0}'), array_fill(NULL::timestamptz, '{1}', '{0}'))
            """,
        ]
        for sql in calls {
            #expect { try db.query(sql) } throws: { error in
                (error as? PostgresError).map { $0.code == .invalidParameterValue && $0.column == "intents" } ?? false
            }
        }
        #expect(try db.query("SELECT count(*) FROM outbox.log").first!.decode(0, as: Int64.self) == before)
    }

    @Test func aCallWithAnyOtherShapeStillGetsEveryRule() throws {
        let attach: JSONValue = [["MESSAGE": "see the attachment"]]
        let mixed = [notification(1, "plain"), .notification(portal: "main", user: 2, message: "rich", attach: attach)]
        #expect(try Producer.enqueue(mixed, on: db).count == 2)
        // A bad item among plain ones is refused, named, and the whole call writes nothing.
        let before: Int64 = try db.query("SELECT count(*) FROM outbox.log").first!.decode(0)
        let bad = [notification(1, "fine"), notification(1, "   "), notification(2, "fine too")]
        #expect { try Producer.enqueue(bad, on: db) } throws: { error in
            (error as? EnqueueError).map { $0.field == "MESSAGE" && $0.message.hasPrefix("intent 2:") } ?? false
        }
        let unknownPortal = [notification(1, "fine"), .notification(portal: "nowhere", user: 1, message: "lost")]
        #expect(throws: EnqueueError.self) { try Producer.enqueue(unknownPortal, on: db) }
        #expect(try db.query("SELECT count(*) FROM outbox.log").first!.decode(0, as: Int64.self) == before)
    }

    /// Every payload the fast path accepts must pass the full checks; the ones it declines may
    /// pass or fail them, and then the full checks decide.
    @Test func thePlainShapeIsNarrowerThanTheRules() throws {
        let payloads: [String] = [
            #"{"USER_ID": 1, "MESSAGE": "hi"}"#, #"{"USER_ID": 2147483647, "MESSAGE": "hi", "TAG": "t"}"#,
            #"{"USER_ID": 2147483648, "MESSAGE": "hi"}"#, #"{"USER_ID": 0, "MESSAGE": "hi"}"#,
            #"{"USER_ID": -1, "MESSAGE": "hi"}"#, #"{"USER_ID": 1.5, "MESSAGE": "hi"}"#, #"{"USER_ID": 1e3, "MESSAGE": "hi"}"#,
            #"{"USER_ID": 1.5e1, "MESSAGE": "hi"}"#, #"{"USER_ID": 1000e-3, "MESSAGE": "hi"}"#, #"{"USER_ID": 1.0, "MESSAGE": "hi"}"#,
            #"{"USER_ID": "1", "MESSAGE": "hi"}"#, #"{"USER_ID": 99999999999999999999, "MESSAGE": "hi"}"#,
            #"{"USER_ID": 1, "MESSAGE": ""}"#, #"{"USER_ID": 1, "MESSAGE": " \t\n"}"#, #"{"USER_ID": 1, "MESSAGE": 5}"#,
            #"{"USER_ID": 1, "MESSAGE": null}"#, #"{"USER_ID": 1}"#, #"{"MESSAGE": "hi"}"#,
            #"{"USER_ID": 1, "MESSAGE": "hi", "TAG": null}"#, #"{"USER_ID": 1, "MESSAGE": "hi", "TAG": 7}"#,
            #"{"USER_ID": 1, "MESSAGE": "hi", "TAG": "\#(String(repeating: "t", count: 201))"}"#,
            #"{"USER_ID": 1, "MESSAGE": "\#(String(repeating: "m", count: 20001))"}"#,
            #"{"USER_ID": 1, "MESSAGE": "\#(String(repeating: "m", count: 20000))"}"#,
            #"{"USER_ID": 1, "MESSAGE": "hi", "EXTRA": 1}"#, #"{"USER_ID": 1, "MESSAGE": "hi", "ATTACH": []}"#,
            #"{"USER_ID": 1, "MESSAGE": "hi", "SUB_TAG": "s"}"#, #"[1, 2]"#, #""text""#,
        ]
        var plain = 0
        for payload in payloads {
            for kind in ["notify.personal", "notify.system", "chat.create"] {
                for key in [nil, "k", "", "a\u{1}b", String(repeating: "k", count: 201)] as [String?] {
                    let fast: Bool = try db.query(
                        "SELECT outbox.is_plain_notification($1, $2::jsonb, $3)", [kind, payload, key]).first!.decode(0)
                    guard fast else { continue }
                    plain += 1
                    try db.execute("BEGIN")
                    defer { _ = try? db.execute("ROLLBACK") }
                    var accepted = true
                    do {
                        _ = try db.query("SELECT outbox.enqueue('main', $1, $2::jsonb, $3)", [kind, payload, key])
                    } catch let error as PostgresError where error.code == .invalidParameterValue {
                        accepted = false
                    }
                    #expect(accepted, "the fast path accepts \(kind) \(payload) key \(key ?? "nil"), the rules do not")
                }
            }
        }
        // Five of the payloads are plain, for both notification kinds, with no key or a good one.
        #expect(plain == 5 * 2 * 2)
    }
}
