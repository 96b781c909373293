import Bitrix24
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// What a claim risks and what a lost lease teaches: a byte budget per claim, claims that shrink
/// around an intent whose workers keep dying, and times counted on the database's clock.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct LeaseLossTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        (scratch, db) = try migratedDatabase()
    }

    func enqueue(_ count: Int) throws -> [Int64] {
        try Producer.enqueue((0..<count).map {
            .notification(portal: "main", user: Int64($0 + 1), message: "m\($0)", key: "n-\($0)")
        }, on: db)
    }

    /// Claims under a lease that is over at once, as a worker that died holding the claim.
    func dieHolding(limit: Int, owner: String) throws -> [Int64] {
        let claimed = try IntentStore(owner: owner).claim(limit: limit, lease: .milliseconds(1), on: db)
        Thread.sleep(forTimeInterval: 0.02)
        try IntentStore.reapExpiredLeases(on: db)
        return claimed.map(\.id)
    }

    func status(_ id: Int64) throws -> (String, Int) {
        let row = try db.query("SELECT status, lease_expiries FROM outbox.intents WHERE id = $1", [id]).first!
        return (try row.decode(0), try row.decode(1))
    }

    @Test("an intent whose workers keep dying is isolated by halving claims, then dead with its own code; the others are delivered")
    func aPoisonIntentIsFoundWithoutPunishingOthers() throws {
        let ids = try enqueue(4)
        let poison = ids[0]
        // Every claim that holds the poison intent dies.
        #expect(try dieHolding(limit: 4, owner: "w1") == ids)
        #expect(try ids.map { try status($0).1 } == [1, 1, 1, 1])
        // One lost lease: claims of these intents take half as many.
        #expect(try dieHolding(limit: 4, owner: "w2") == [ids[0], ids[1]])
        let good = IntentStore(owner: "good")
        let rest = try good.claim(limit: 4, lease: .seconds(60), on: db)
        #expect(rest.map(\.id) == [ids[2], ids[3]])
        try good.finish(rest.map { ($0, .delivered(resultID: 1, details: [:])) }, on: db)
        // Two lost leases: a quarter, here one intent alone; it dies once more and is the culprit.
        #expect(try dieHolding(limit: 4, owner: "w3") == [poison])
        #expect(try status(poison) == ("dead", 3))
        let dead = try db.query("SELECT last_error->>'error', last_error->>'class' FROM outbox.intents WHERE id = $1", [poison]).first!
        #expect(try dead.decode(0, as: String.self) == "LEASE_EXPIRED_REPEATEDLY")
        #expect(try dead.decode(1, as: String.self) == "poison")
        #expect(try Stats.read(on: db).deadByError.map(\.error) == ["LEASE_EXPIRED_REPEATEDLY"])
        // Its companion in the last shared claim is claimed alone and delivered.
        let last = try good.claim(limit: 4, lease: .seconds(60), on: db)
        #expect(last.map(\.id) == [ids[1]])
        try good.finish(last.map { ($0, .delivered(resultID: 1, details: [:])) }, on: db)
        #expect(try ids.dropFirst().map { try status($0).0 } == ["delivered", "delivered", "delivered"])
        // A replay gives the culprit a fresh start, at full claim size.
        #expect(try IntentStore.replay(.init(ids: [poison]), by: "test", dryRun: false, on: db) == [poison])
        #expect(try status(poison) == ("pending", 0))
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test("a lease lost by a claim of many is no verdict on any one of them: all go back to pending")
    func oneLostLeaseKillsNothing() throws {
        let ids = try enqueue(3)
        #expect(try dieHolding(limit: 3, owner: "w1") == ids)
        #expect(try ids.map { try status($0).0 } == ["pending", "pending", "pending"])
        // Alone in its pool, but its first and second loss: pending too (a process killed from
        // outside looks the same).
        let alone = try enqueue(4).last!
        try db.execute("UPDATE outbox.intents SET next_attempt_at = now() + interval '1 hour' WHERE id <> $1", [alone])
        #expect(try dieHolding(limit: 4, owner: "w2") == [alone])
        #expect(try status(alone) == ("pending", 1))
        #expect(try dieHolding(limit: 4, owner: "w3") == [alone])
        #expect(try status(alone) == ("pending", 2))
    }

    @Test("a suspect claimed alone is no culprit when its pool held other intents too: a crash takes every thread's claim")
    func aPoolThatHeldOthersNamesNoCulprit() throws {
        let ids = try enqueue(2)
        _ = try dieHolding(limit: 2, owner: "host-1-aaa/1")
        #expect(try ids.map { try status($0).1 } == [1, 1])
        // Two threads of one pool each hold one of them, alone, and the pool dies.
        for (worker, id) in zip(["host-1-bbb/1", "host-1-bbb/2"], ids) {
            #expect(try IntentStore(owner: worker).claim(limit: 2, lease: .milliseconds(1), on: db).map(\.id) == [id])
        }
        Thread.sleep(forTimeInterval: 0.02)
        try IntentStore.reapExpiredLeases(on: db)
        #expect(try ids.map { try status($0).0 } == ["pending", "pending"])
        // Held by a pool that held nothing else, the first one's next loss is its verdict.
        #expect(try dieHolding(limit: 2, owner: "host-1-ccc/3") == [ids[0]])
        #expect(try status(ids[0]).0 == "dead")
        #expect(try status(ids[1]).0 == "pending")
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test("a claim stops at its byte budget (the first intent always comes), so large chats do not fill a worker's memory")
    func aClaimHasAByteBudget() throws {
        // Avatars of 200,000 characters: about that many bytes as text each.
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        for i in 0..<6 {
            let avatar = String((0..<200_000).map { _ in alphabet[Int(random.next() % 64)] })
            _ = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": .string("c\(i)"), "AVATAR": .string(avatar)]), on: db)
        }
        let sizes = try db.query("SELECT octet_length(payload::text) FROM outbox.intents ORDER BY next_attempt_at, id").map { try $0.decode(0, as: Int.self) }
        #expect(sizes.allSatisfy { $0 > 150_000 })
        let store = IntentStore(owner: "w")
        // Room for two and a half: the third starts inside the budget, the fourth would not.
        let budget = sizes[0] + sizes[1] + sizes[2] / 2
        #expect(try store.claim(limit: 50, lease: .seconds(60), bytes: budget, on: db).count == 3)
        // A budget smaller than one intent still takes one.
        #expect(try store.claim(limit: 50, lease: .seconds(60), bytes: 1, on: db).count == 1)
        // The default (16 MiB) has room for the two left.
        #expect(try store.claim(limit: 50, lease: .seconds(60), on: db).count == 2)
    }

    @Test("a payload that compresses well is measured as the text a worker holds, not as stored")
    func compressedPayloadsCountInFull() throws {
        let avatar = String(repeating: "A", count: 1_000_000)
        for i in 0..<3 {
            _ = try Producer.enqueue(.chat(portal: "main", fields: ["TITLE": .string("c\(i)"), "AVATAR": .string(avatar)]), on: db)
        }
        #expect(try db.query("SELECT max(pg_column_size(payload)) FROM outbox.intents").first!.decode(0, as: Int.self) < 100_000)
        #expect(try IntentStore(owner: "w").claim(limit: 50, lease: .seconds(60), bytes: 1_500_000, on: db).count == 2)
    }

    @Test("retry and release times are counted from the database's clock, not the worker's")
    func delaysUseTheDatabaseClock() throws {
        let ids = try enqueue(2)
        let store = IntentStore(owner: "w")
        let claimed = try store.claim(limit: 2, lease: .seconds(60), on: db)
        try store.finish([
            (claimed[0], .retry(after: .seconds(30), details: ["error": "INTERNAL_SERVER_ERROR"])),
            (claimed[1], .released(after: .seconds(600), reason: "OPERATION_TIME_LIMIT")),
        ], on: db)
        let rows = try db.query("""
            SELECT extract(epoch FROM i.next_attempt_at - now())::float8,
                   (SELECT (l.data->>'next_attempt_at')::timestamptz = i.next_attempt_at FROM outbox.log l
                     WHERE l.intent_id = i.id ORDER BY seq DESC LIMIT 1)
              FROM outbox.intents i WHERE id = ANY($1) ORDER BY id
            """, [ids])
        let left = try rows.map { try $0.decode(0, as: Double.self) }
        #expect(left[0] > 29 && left[0] <= 30)
        #expect(left[1] > 599 && left[1] <= 600)
        #expect(try rows[0].decode(1, as: Bool.self), "the log says the time the row has")
    }
}
