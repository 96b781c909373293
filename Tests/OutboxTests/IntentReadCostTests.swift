import Bitrix24
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// What the worker's hot statements read of `outbox.intents`, as PostgreSQL counts it: a claim,
/// a record of outcomes and the idle check each read the few rows they are about, whatever the
/// table holds and whatever its statistics say. Plans that read every due or claimed intent make
/// a backlog slower to drain the longer it is. The tables are big enough that reading a few rows
/// through an index is the cheaper plan.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct IntentReadCostTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        (scratch, db) = try migratedDatabase(portals: ["alpha"])
        // Workers keep the portal's rate mirror; a claim looks at it for pauses.
        try db.execute("INSERT INTO outbox.portal_rate (portal_id) SELECT id FROM outbox.portals")
    }

    /// Enqueues `count` notifications, then takes statistics, as the bench and autovacuum do.
    func backlog(_ count: Int) throws {
        for start in stride(from: 0, to: count, by: 1_000) {
            _ = try Producer.enqueue((start..<min(count, start + 1_000)).map {
                .notification(portal: "alpha", user: Int64($0 % 1_000 + 1), message: "m\($0)", key: "k-\($0)")
            }, on: db)
        }
        try db.execute("ANALYZE outbox.intents, outbox.portal_rate")
    }

    /// Rows of outbox.intents that `body` read, sequentially and through indexes, with its result.
    /// The counters are the backend's not yet reported ones, which may include transactions
    /// before: the difference across `body`, in one transaction, is what it read.
    func rowsRead<T>(by body: (Connection) throws -> T) throws -> (result: T, sequential: Int64, indexed: Int64) {
        try db.transaction { db in
            let before = try counters(on: db)
            let result = try body(db)
            let after = try counters(on: db)
            return (result, after.sequential - before.sequential, after.indexed - before.indexed)
        }
    }

    private func counters(on db: Connection) throws -> (sequential: Int64, indexed: Int64) {
        let row = try db.query("""
            SELECT coalesce(seq_tup_read, 0), coalesce(idx_tup_fetch, 0)
              FROM pg_stat_xact_user_tables WHERE relid = 'outbox.intents'::regclass
            """).first!
        return (try row.decode(0), try row.decode(1))
    }

    /// PostgreSQL plans a prepared statement afresh for its first five runs, then may keep a
    /// generic plan: statements are measured on their seventh run.
    static let warmRuns = 6

    @Test func aClaimReadsTheHeadOfTheQueueNotEveryDueIntent() throws {
        try backlog(3_000)
        let store = IntentStore(owner: "w1")
        for _ in 0..<Self.warmRuns { _ = try store.claim(limit: 10, lease: .seconds(60), on: db) }
        let read = try rowsRead { db in try store.claim(limit: 10, lease: .seconds(60), on: db) }
        #expect(read.result.count == 10)
        #expect(read.sequential == 0)
        #expect(read.indexed < 100, "a claim of 10 read \(read.indexed) intents")
    }

    /// Planning a claim cost about as much as a tenth of running it. Its plan is the same for any
    /// portal and limit, so PostgreSQL settles on one plan after the first runs; with a portal list too.
    @Test func aClaimIsPlannedOnlyInItsFirstRuns() throws {
        try backlog(3_000)
        let store = IntentStore(owner: "w1")
        let portal: Int64 = try db.query("SELECT id FROM outbox.portals").first!.decode(0)
        for _ in 0..<(Self.warmRuns + 2) {
            #expect(try store.claim(limit: 10, lease: .seconds(60), on: db).count == 10)
            #expect(try store.claim(limit: 10, lease: .seconds(60), portals: [portal], on: db).count == 10)
        }
        let plans = try db.query("""
            SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%intent.claimed%'
            """).map { (generic: try $0.decode(0, as: Int64.self), custom: try $0.decode(1, as: Int64.self)) }
        #expect(plans.count == 1, "one prepared claim, with a portal list or without")
        for plan in plans {
            #expect(plan.generic >= 2, "\(plan.generic) runs on a kept plan, \(plan.custom) planned anew")
        }
    }

    @Test func recordingOutcomesLooksUpEachIntentNotEveryClaimedOne() throws {
        try backlog(20_000)
        _ = try IntentStore(owner: "w2").claim(limit: 500, lease: .seconds(60), on: db)
        let store = IntentStore(owner: "w1")
        let mine = try store.claim(limit: 10 * (Self.warmRuns + 1), lease: .seconds(60), on: db)
        let outcomes = mine.map { ($0, DeliveryOutcome.delivered(resultID: $0.id, details: [:])) }
        for run in 0..<Self.warmRuns { try store.finish(Array(outcomes[(run * 10)..<(run * 10 + 10)]), on: db) }
        let read = try rowsRead { db in try store.finish(Array(outcomes.suffix(10)), on: db) }
        #expect(read.result.recorded.count == 10)
        #expect(read.sequential == 0)
        #expect(read.indexed < 100, "recording 10 outcomes read \(read.indexed) intents")
    }

    @Test func theIdleCheckNeverScansTheTable() throws {
        try backlog(2_000)
        let alpha: Int64 = try db.query("SELECT id FROM outbox.portals WHERE name = 'alpha'").first!.decode(0)
        let store = IntentStore(owner: "w1")
        while case let claimed = try store.claim(limit: 500, lease: .seconds(60), on: db), !claimed.isEmpty {
            try store.finish(claimed.map { ($0, .delivered(resultID: $0.id, details: [:])) }, on: db)
        }
        // The statistics still say every intent is pending, as they do at the end of a drain.
        for portals in [nil, [alpha]] {
            let read = try rowsRead { db in try IntentStore.nothingLeft(portals: portals, on: db) }
            #expect(read.result)
            #expect(read.sequential == 0, "the idle check (portals \(String(describing: portals))) read \(read.sequential) intents sequentially")
        }
    }

    @Test func theIdleCheckCountsWhatIsNotDueYetAndWhatIsClaimed() throws {
        let alpha: Int64 = try db.query("SELECT id FROM outbox.portals WHERE name = 'alpha'").first!.decode(0)
        #expect(try IntentStore.nothingLeft(on: db))
        let later = NewIntent.notification(
            portal: "alpha", user: 1, message: "later", key: "later", notBefore: Date().addingTimeInterval(3600))
        _ = try Producer.enqueue([later], on: db)
        #expect(try !IntentStore.nothingLeft(on: db))
        #expect(try !IntentStore.nothingLeft(portals: [alpha], on: db))
        #expect(try IntentStore.nothingLeft(portals: [alpha + 1], on: db))
        try db.execute("UPDATE outbox.intents SET next_attempt_at = now()")
        _ = try IntentStore(owner: "w1").claim(limit: 10, lease: .seconds(60), on: db)
        #expect(try !IntentStore.nothingLeft(on: db))
        #expect(try !IntentStore.nothingLeft(portals: [alpha], on: db))
        #expect(try IntentStore.nothingLeft(portals: [alpha + 1], on: db))
    }
}
