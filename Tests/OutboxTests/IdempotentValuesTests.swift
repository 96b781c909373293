import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// Values that pass validation must not defeat idempotency: an empty TAG, an entity pair that
/// Bitrix24 cannot look up or that belongs to its own modules, long entity ids, and a second
/// chat intent for a pair another intent holds.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct IdempotentValuesTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        (scratch, db) = try migratedDatabase()
    }

    func payload(_ id: Int64) throws -> JSONValue {
        try JSONValue(jsonText: try db.query("SELECT payload::text FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: String.self))
    }

    func written() throws -> [Int] {
        try db.query("SELECT (SELECT count(*) FROM outbox.intents), (SELECT count(*) FROM outbox.log), (SELECT count(*) FROM outbox.intent_keys)")
            .first.map { [try $0.decode(0), try $0.decode(1), try $0.decode(2)] } ?? []
    }

    @Test("an empty or blank TAG means no TAG: one is derived, on every path (Swift, bulk, SQL)")
    func anEmptyTagIsDerived() throws {
        var ids = [
            try Producer.enqueue(.notification(portal: "main", user: 1, message: "a", tag: "", key: "k1"), on: db),
            try Producer.enqueue(.notification(portal: "main", user: 1, message: "b", tag: "  \t", key: "k2"), on: db),
        ]
        ids += try Producer.enqueue([
            .notification(portal: "main", user: 2, message: "c", tag: "", key: "k3"),
            .notification(portal: "main", user: 3, message: "d", tag: "", key: "k4"),
        ], on: db)
        ids.append(try db.query("SELECT outbox.enqueue_notification('main', 4, 'e', p_tag => '', p_key => 'k5')").first!.decode(0))
        ids.append(try db.query(#"SELECT outbox.enqueue('main', 'notify.system', '{"USER_ID": 5, "MESSAGE": "f", "TAG": ""}', 'k6')"#)
            .first!.decode(0))
        var tags: Set<String> = []
        for id in ids {
            let tag = try #require(try payload(id)["TAG"]?.stringValue, "intent \(id) has a TAG")
            #expect(tag.hasPrefix("b24o:"), "intent \(id): \(tag)")
            tags.insert(tag)
        }
        #expect(tags.count == ids.count, "each intent has its own derived TAG")
        // A TAG with text is kept as given.
        let kept = try Producer.enqueue(.notification(portal: "main", user: 1, message: "g", tag: "order-7", key: "k7"), on: db)
        #expect(try payload(kept)["TAG"] == "order-7")
    }

    @Test("an entity pair is both present and non-empty (not \"0\"), or both absent; refusals write nothing")
    func entityPairsBothOrNeither() throws {
        let before = try written()
        let refused: [([String: JSONValue], String)] = [
            (["ENTITY_TYPE": "DEAL"], "ENTITY_ID"),
            (["ENTITY_ID": "7"], "ENTITY_TYPE"),
            (["ENTITY_TYPE": "DEAL", "ENTITY_ID": .null], "ENTITY_ID"),
            (["ENTITY_TYPE": "", "ENTITY_ID": ""], "ENTITY_TYPE"),
            (["ENTITY_TYPE": "DEAL", "ENTITY_ID": ""], "ENTITY_ID"),
            (["ENTITY_TYPE": "DEAL", "ENTITY_ID": "0"], "ENTITY_ID"),
            (["ENTITY_TYPE": "0", "ENTITY_ID": "7"], "ENTITY_TYPE"),
            (["ENTITY_TYPE": " ", "ENTITY_ID": "7"], "ENTITY_TYPE"),
            // A portal's collation ignores trailing blanks and accents: such pairs could not be told apart.
            (["ENTITY_TYPE": "DEAL", "ENTITY_ID": "7 "], "ENTITY_ID"),
            (["ENTITY_TYPE": "DEAL", "ENTITY_ID": " 7"], "ENTITY_ID"),
            (["ENTITY_TYPE": "DEAL", "ENTITY_ID": "café"], "ENTITY_ID"),
            (["ENTITY_TYPE": "CRM ", "ENTITY_ID": "7"], "ENTITY_TYPE"),
            (["ENTITY_TYPE": "SHOP-DEAL", "ENTITY_ID": "7"], "ENTITY_TYPE"),
            (["ENTITY_TYPE": "SÜD", "ENTITY_ID": "7"], "ENTITY_TYPE"),
        ]
        for (fields, field) in refused {
            let error = try #require(throws: EnqueueError.self, "\(fields)") {
                try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "t"].merging(fields) { $1 }), on: db)
            }
            #expect(error.field == field, "\(fields): \(error)")
        }
        #expect(try written() == before)

        // Neither, or both as JSON null: derived in our own namespace.
        for fields: [String: JSONValue] in [["TITLE": "a"], ["TITLE": "b", "ENTITY_TYPE": .null, "ENTITY_ID": .null]] {
            let id = try Producer.enqueue(.chat(portal: "main", fields: fields), on: db)
            #expect(try payload(id)["ENTITY_TYPE"] == "B24OUTBOX")
            #expect(try payload(id)["ENTITY_ID"]?.stringValue?.isEmpty == false)
        }
    }

    @Test("a derived ENTITY_ID is the key when a portal can find it again by it, else the key's SHA-256")
    func derivedEntityIDsCanBeLookedUp() throws {
        for key in ["0", " padded ", "заказ-7", "Order-1", "two  words"] {
            let id = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "t"], key: key), on: db)
            let entityID = try #require(try payload(id)["ENTITY_ID"]?.stringValue)
            if key == "two  words" {
                #expect(entityID == key)
            } else {
                #expect(entityID.hasPrefix("sha256:") && entityID.count == 71, "\(key): \(entityID)")
            }
        }
    }

    @Test("two producers enqueueing one entity pair under different keys at once: the second waits and gets the first's intent")
    func concurrentProducersShareOnePair() async throws {
        let other = try scratch.connect()
        defer { other.close() }
        let fields: [String: JSONValue] = ["TITLE": "Deal 9", "ENTITY_TYPE": "DEAL", "ENTITY_ID": "9"]
        try db.execute("BEGIN")
        let first = try Producer.enqueue(.chat(portal: "main", fields: fields, key: "producer-a"), on: db)
        let conninfo = scratch.conninfo
        let second = Task.detached { () throws -> Int64 in
            let connection = try Connection(conninfo)
            defer { connection.close() }
            return try Producer.enqueue(.chat(portal: "main", fields: fields, key: "producer-b"), on: connection)
        }
        // The second producer waits on the first's uncommitted pair.
        while try other.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
            .first!.decode(0, as: Int.self) == 0 {
            try await Task.sleep(for: .milliseconds(10))
        }
        try db.execute("COMMIT")
        #expect(try await second.value == first)
        #expect(try other.query("SELECT count(*) FROM outbox.intents WHERE kind = 'chat.create'").first!.decode(0, as: Int.self) == 1)
        #expect(try Verifier().verify(on: other).isConsistent)
    }

    @Test("entity types of Bitrix24's own chats (CRM, LINES, TASKS, SONET_GROUP, CALENDAR…) are refused, in any case")
    func bitrix24EntityTypesAreRefused() throws {
        let before = try written()
        for type in ["CRM", "LINES", "TASKS", "SONET_GROUP", "CALENDAR", "lines", "Crm", "LIVECHAT", "ANNOUNCEMENT"] {
            let error = try #require(throws: EnqueueError.self, "\(type)") {
                try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "t", "ENTITY_TYPE": .string(type), "ENTITY_ID": "1"]), on: db)
            }
            #expect(error.field == "ENTITY_TYPE")
            #expect(error.message.contains("Bitrix24"))
        }
        #expect(try written() == before)
        // A type of the producer's own is fine.
        _ = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "t", "ENTITY_TYPE": "SHOP_ORDER", "ENTITY_ID": "1"]), on: db)
    }

    @Test("long entity ids that share their first 200 characters get keys of their own")
    func longEntityIDsDoNotCollide() throws {
        let prefix = String(repeating: "x", count: 240)
        let first = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "a", "ENTITY_TYPE": "ORDER", "ENTITY_ID": .string(prefix + "1")]), on: db)
        let second = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "b", "ENTITY_TYPE": "ORDER", "ENTITY_ID": .string(prefix + "2")]), on: db)
        #expect(first != second)
        let keys = try db.query("SELECT idempotency_key FROM outbox.intents WHERE id = ANY($1) ORDER BY id", [[first, second]])
            .map { try $0.decode(0, as: String.self) }
        #expect(Set(keys).count == 2)
        #expect(keys.allSatisfy { $0.count <= 200 })
        // A short pair keeps its readable key.
        let short = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "c", "ENTITY_TYPE": "ORDER", "ENTITY_ID": "42"]), on: db)
        #expect(try db.query("SELECT idempotency_key FROM outbox.intents WHERE id = $1", [short]).first!.decode(0, as: String.self) == "ORDER:42")
    }

    @Test("a second chat intent for a pair another intent holds: the same fields return it, other fields are refused; so it stays after a cancel")
    func oneIntentPerEntityPair() throws {
        let fields: [String: JSONValue] = ["TITLE": "Deal 7", "ENTITY_TYPE": "DEAL", "ENTITY_ID": "7"]
        let first = try Producer.enqueue(.chat(portal: "main", fields: fields, key: "deal-7-chat"), on: db)
        let before = try written()
        #expect(try Producer.enqueue(.chat(portal: "main", fields: fields, key: "another-key"), on: db) == first)
        #expect(try Producer.enqueue(.chat(portal: "main", fields: fields), on: db) == first)
        #expect(try written() == before, "a repeat writes nothing, not even its key")

        var other = fields
        other["TITLE"] = "Deal seven"
        let error = try #require(throws: EnqueueError.self) {
            try Producer.enqueue(.chat(portal: "main", fields: other, key: "third-key"), on: db)
        }
        #expect(error.field == "ENTITY_ID")
        #expect(error.message.contains("intent \(first)"))
        #expect(!error.message.contains("cancel that intent"), "cancelling does not free the pair")
        // The portal compares pairs without regard to case: so does the outbox.
        var upper = fields
        upper["ENTITY_ID"] = "7"
        upper["ENTITY_TYPE"] = "deal"
        #expect(throws: EnqueueError.self) { try Producer.enqueue(.chat(portal: "main", fields: upper, key: "fourth"), on: db) }
        #expect(try written() == before)

        // Cancelled, the intent still holds its pair: replaying it is how the chat is sent.
        #expect(try IntentStore.cancel([first], by: "test", on: db) == [first])
        #expect(try Producer.enqueue(.chat(portal: "main", fields: fields, key: "after-cancel"), on: db) == first)
        // Two pairs on two portals are two chats.
        try db.execute("""
            INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code)
            VALUES ('second', 'https://second.bitrix24.com', 'webhook', 1, 'c0de')
            """)
        #expect(try Producer.enqueue(.chat(portal: "second", fields: fields, key: "deal-7-chat"), on: db) != first)
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test("chat fields that could exhaust a worker's memory have limits: AVATAR 1,500,000 characters, USERS 1,000 ids")
    func chatFieldLimits() throws {
        let before = try written()
        let avatar = String(repeating: "A", count: 1_500_001)
        let tooBig = try #require(throws: EnqueueError.self) {
            try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "t", "AVATAR": .string(avatar)]), on: db)
        }
        #expect(tooBig.field == "AVATAR")
        let crowd = try #require(throws: EnqueueError.self) {
            try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "t", "USERS": .array((1...1001).map { .int(Int64($0)) })]), on: db)
        }
        #expect(crowd.field == "USERS")
        #expect(try written() == before)
        _ = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "t", "AVATAR": .string(String(avatar.dropLast())),
                                                            "USERS": .array((1...1000).map { .int(Int64($0)) })]), on: db)
    }

    @Test("migrating cancels chat intents not yet delivered whose entity pair an older intent holds, with the entry that says why")
    func migrationCancelsLaterIntentsOfAPair() throws {
        let old = try ScratchDatabase()
        let oldDB = try old.connect()
        defer { oldDB.close() }
        try Migrator(migrations: Migration.bundled.filter { $0.name < "014" }).migrate(on: oldDB)
        try oldDB.execute("""
            INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code)
            VALUES ('main', 'https://example.bitrix24.com', 'webhook', 1, 'c0de')
            """)
        let fields: [String: JSONValue] = ["TITLE": "Deal 3", "ENTITY_TYPE": "DEAL", "ENTITY_ID": "3"]
        let holder = try Producer.enqueue(.chat(portal: "main", fields: fields, key: "first"), on: oldDB)
        let later = try Producer.enqueue(.chat(portal: "main", fields: fields, key: "second"), on: oldDB)
        let alone = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": "Deal 4", "ENTITY_TYPE": "DEAL", "ENTITY_ID": "4"]), on: oldDB)
        // A pair cancelled before, then enqueued again: the live one keeps the pair.
        let five: [String: JSONValue] = ["TITLE": "Deal 5", "ENTITY_TYPE": "DEAL", "ENTITY_ID": "5"]
        let gaveUp = try Producer.enqueue(.chat(portal: "main", fields: five, key: "five-a"), on: oldDB)
        #expect(try IntentStore.cancel([gaveUp], by: "test", on: oldDB) == [gaveUp])
        let again = try Producer.enqueue(.chat(portal: "main", fields: five, key: "five-b"), on: oldDB)
        // Pairs the rules before let through, which no lookup can find.
        let unfindable = try [
            #"{"TITLE": "x", "ENTITY_TYPE": null, "ENTITY_ID": null}"#,
            #"{"TITLE": "y", "ENTITY_TYPE": "DEAL", "ENTITY_ID": ""}"#,
            #"{"TITLE": "z", "ENTITY_TYPE": "DEAL", "ENTITY_ID": "0"}"#,
        ].map { fields in
            try oldDB.query("SELECT outbox.enqueue_chat('main', $1::jsonb)", [fields]).first!.decode(0, as: Int64.self)
        }
        #expect(holder != later)
        try Migrator().migrate(on: oldDB)

        let statuses = try oldDB.query("SELECT id, status FROM outbox.intents ORDER BY id").map {
            "\(try $0.decode(0, as: Int64.self)):\(try $0.decode(1, as: String.self))"
        }
        #expect(statuses == ["\(holder):pending", "\(later):cancelled", "\(alone):pending", "\(gaveUp):cancelled", "\(again):pending"]
                + unfindable.map { "\($0):cancelled" })
        let reason = try oldDB.query("SELECT data->>'reason' FROM outbox.log WHERE intent_id = $1 AND type = 'intent.cancelled'", [later])
        #expect(try reason.first?.decode(0, as: String.self) == "intent \(holder) holds its entity pair")
        for id in unfindable {
            let why = try oldDB.query("SELECT data->>'reason' FROM outbox.log WHERE intent_id = $1 AND type = 'intent.cancelled'", [id])
            #expect(try why.first?.decode(0, as: String.self) == "its entity pair cannot be looked up")
        }
        #expect(try Producer.enqueue(.chat(portal: "main", fields: fields, key: "third"), on: oldDB) == holder)
        #expect(try Producer.enqueue(.chat(portal: "main", fields: five, key: "five-c"), on: oldDB) == again)
        // A chat whose pair another intent holds is not replayed.
        #expect(try IntentStore.replay(.init(ids: [later, gaveUp], statuses: [.cancelled]), by: "test", dryRun: false, on: oldDB).isEmpty)
        #expect(try Verifier().verify(on: oldDB).isConsistent)
    }
}
