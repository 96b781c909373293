import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// `outbox.take_rate_slots` grants several request slots of a portal's bucket at once, by the
/// rules one slot at a time follows: one slot kept free, draining at the portal's rate, and a
/// QUERY_LIMIT_EXCEEDED pause honoured.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct RateSlotTests {
    let scratch: ScratchDatabase
    let db: Connection
    let portalID: Int64

    init() throws {
        scratch = try ScratchDatabase()
        db = try scratch.connect()
        try Migrator().migrate(on: db)
        // A bucket of 10 (9 usable slots) draining one slot per 1,000 s, so the time the test
        // itself takes drains nothing that matters; drains are simulated by moving the stamp.
        portalID = try db.query("""
            INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code, rate_bucket, rate_drain)
            VALUES ('main', 'https://main.bitrix24.com', 'webhook', 1, 'c0de', 10, 0.001) RETURNING id
            """).first!.decode(0)
    }

    func take(_ wanted: Int) throws -> (granted: Int, wait: Double) {
        let row = try db.query("SELECT granted, wait FROM outbox.take_rate_slots($1, $2::integer)", [portalID, wanted]).first!
        return (try row.decode(0), try row.decode(1))
    }

    @Test func grantsWhatFitsThenTellsHowLongToWait() throws {
        #expect(try take(4).granted == 4)
        #expect(try take(4).granted == 4)
        // One slot of the nine usable is left.
        #expect(try take(4).granted == 1)
        let refused = try take(4)
        #expect(refused.granted == 0)
        // The next slot frees at 0.001 per second: in about 1,000 s.
        #expect(refused.wait > 990 && refused.wait <= 1000)
    }

    @Test func aManySlotGrantCountsAsThatManySingleGrants() throws {
        #expect(try take(9).granted == 9)
        let level: Double = try db.query("SELECT level FROM outbox.portal_rate WHERE portal_id = $1", [portalID]).first!.decode(0)
        #expect(level == 9)
        // The one-slot function sees the same full bucket.
        let wait: Double = try db.query("SELECT outbox.take_rate_slot($1)", [portalID]).first!.decode(0)
        #expect(wait > 0)
    }

    @Test func theOneSlotFunctionOfEarlierWorkersFollowsTheSameRules() throws {
        let waits: [Double] = try (0..<10).map { _ in
            try db.query("SELECT outbox.take_rate_slot($1)", [portalID]).first!.decode(0)
        }
        #expect(waits.prefix(9).allSatisfy { $0 == 0 })
        #expect(waits[9] > 990 && waits[9] <= 1000)
        #expect(try take(1).granted == 0)
    }

    @Test func theBucketDrainsAtThePortalsRate() throws {
        #expect(try take(9).granted == 9)
        // As if the grants were 3,000 s ago: 3 slots have drained since.
        try db.execute("UPDATE outbox.portal_rate SET updated_at = updated_at - interval '3000 seconds' WHERE portal_id = $1", [portalID])
        #expect(try take(9).granted == 3)
    }

    @Test func aQueryLimitPauseGrantsNothingUntilItEnds() throws {
        try db.execute("SELECT outbox.note_rate_limited($1)", [portalID])
        let paused = try take(3)
        #expect(paused.granted == 0)
        // note_rate_limited marks the bucket full and pauses for one drain interval.
        #expect(paused.wait > 990 && paused.wait <= 1000)
        // Once the pause is over (and the bucket drained), slots are granted again.
        try db.execute("""
            UPDATE outbox.portal_rate SET paused_until = clock_timestamp() - interval '1 second',
                   updated_at = updated_at - interval '9000 seconds' WHERE portal_id = $1
            """, [portalID])
        #expect(try take(3).granted == 3)
    }

    @Test(arguments: [0, -1])
    func refusesToGrantNothing(wanted: Int) throws {
        let error = #expect(throws: PostgresError.self) { try take(wanted) }
        #expect(error?.code == .invalidParameterValue)
    }
}
