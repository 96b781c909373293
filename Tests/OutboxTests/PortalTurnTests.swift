import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// Claims follow the portals' turns (`outbox.take_turn`): a claim goes to a portal that can send
/// now, portals take turns whatever their backlogs, and whatever makes an intent pending wakes
/// its portal, without a producer ever waiting for a claim or for another producer.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"), .serialized)
struct PortalTurnTests {
    let scratch: ScratchDatabase
    let db: Connection
    let store = IntentStore(owner: "w1")

    init() throws {
        (scratch, db) = try migratedDatabase(portals: ["alpha", "beta", "gamma"])
        // Room for every claim unless a test fills a bucket itself.
        try db.execute("UPDATE outbox.portals SET rate_bucket = 100000, rate_drain = 100000")
    }

    func id(_ portal: String) throws -> Int64 {
        try db.query("SELECT id FROM outbox.portals WHERE name = $1", [portal]).first!.decode(0)
    }

    func enqueue(_ count: Int, to portal: String, notBefore: Date? = nil, on connection: Connection? = nil) throws {
        let items = (0..<count).map {
            NewIntent.notification(portal: portal, user: Int64($0 % 100 + 1), message: "m\($0)",
                                   key: "\(portal)-\(UUID().uuidString)", notBefore: notBefore)
        }
        _ = try Producer.enqueue(items, on: connection ?? db)
    }

    func claimedPortal(limit: Int = 10) throws -> Int64? {
        let claim = try store.claimTurn(limit: limit, perCall: limit, lease: .seconds(60), on: db)
        #expect(claim.intents.allSatisfy { $0.portalID == claim.portalID })
        return claim.intents.isEmpty ? nil : claim.portalID
    }

    @Test func portalsTakeTurnsWhateverTheirBacklogs() throws {
        try enqueue(500, to: "alpha")
        try enqueue(20, to: "beta")
        try enqueue(20, to: "gamma")
        let order = try (0..<6).map { _ in try claimedPortal() }
        let (alpha, beta, gamma) = (try id("alpha"), try id("beta"), try id("gamma"))
        // Each portal once in every round of three, in the order their work arrived.
        #expect(order == [alpha, beta, gamma, alpha, beta, gamma])
        // Beta and gamma are drained; alpha goes on alone.
        #expect(try (0..<3).map { _ in try claimedPortal() } == [alpha, alpha, alpha])
    }

    @Test func aBacklogDoesNotDelayAnotherPortalsFirstClaim() throws {
        try enqueue(3_000, to: "alpha")
        let alpha = try id("alpha")
        #expect(try claimedPortal() == alpha)
        #expect(try claimedPortal() == alpha)
        try enqueue(1, to: "beta")
        // Alpha's turn was in line before beta had work; beta's comes right after it.
        #expect(try (0..<3).map { _ in try claimedPortal() } == [alpha, try id("beta"), alpha])
    }

    @Test func aPortalWithoutRoomInItsBucketIsPassedOverUntilItHasRoom() throws {
        try enqueue(100, to: "alpha")
        try enqueue(100, to: "beta")
        let (alpha, beta) = (try id("alpha"), try id("beta"))
        // Alpha's bucket: 4 requests (3 usable, one kept free), one freeing every 10 s.
        try db.execute("UPDATE outbox.portals SET rate_bucket = 4, rate_drain = 0.1 WHERE id = $1", [alpha])
        let claims = try (0..<4).map { _ in try store.claimTurn(limit: 30, perCall: 10, lease: .seconds(60), on: db) }
        // Alpha's first claim took all 3 (30 intents):
        // from then on only beta is claimed, and alpha's turn waits for its bucket.
        #expect(claims.map(\.portalID) == [alpha, beta, beta, beta])
        #expect(claims[0].calls == 3 && claims[0].intents.count == 30)
        let turn: Double = try db.query(
            "SELECT extract(epoch FROM due_at - now())::float8 FROM outbox.portal_turns WHERE portal_id = $1", [alpha]).first!.decode(0)
        #expect(turn > 5 && turn <= 10.5, "alpha's turn is due when one request frees, not \(turn) s from now")
        // Beta drained, only alpha is left: no claim, and the wait is until its bucket has room.
        _ = try store.claimTurn(limit: 100, perCall: 100, lease: .seconds(60), on: db)
        let none = try store.claimTurn(limit: 30, perCall: 10, lease: .seconds(60), on: db)
        #expect(none.portalID == nil && none.intents.isEmpty)
        #expect(none.wait.map { $0 > .seconds(5) && $0 <= .seconds(11) } == true, "\(String(describing: none.wait))")
    }

    @Test func requestsAClaimCannotUseGoBackAtOnce() throws {
        try enqueue(5, to: "alpha")
        let alpha = try id("alpha")
        try db.execute("UPDATE outbox.portals SET rate_bucket = 5, rate_drain = 0.001 WHERE id = $1", [alpha])
        // Four requests granted (the bucket's 4 usable), five intents need one: three go back.
        let claim = try store.claimTurn(limit: 40, perCall: 10, lease: .seconds(60), on: db)
        #expect(claim.calls == 1 && claim.intents.count == 5)
        let level: Double = try db.query("SELECT level FROM outbox.portal_rate WHERE portal_id = $1", [alpha]).first!.decode(0)
        #expect(level >= 1 && level < 1.01)
        try enqueue(30, to: "alpha")
        let next = try store.claimTurn(limit: 40, perCall: 10, lease: .seconds(60), on: db)
        #expect(next.portalID == alpha && next.calls == 3 && next.intents.count == 30)
    }

    @Test func anIntentNotDueYetMovesTheTurnToItsTime() throws {
        try enqueue(1, to: "alpha", notBefore: Date().addingTimeInterval(3_600))
        let claim = try store.claimTurn(limit: 10, perCall: 10, lease: .seconds(60), on: db)
        #expect(claim.portalID == nil && claim.intents.isEmpty)
        #expect(claim.wait.map { $0 > .seconds(3_590) && $0 <= .seconds(3_600) } == true, "\(String(describing: claim.wait))")
        // An intent due now for the same portal brings the turn forward.
        try enqueue(1, to: "alpha")
        #expect(try claimedPortal() == (try id("alpha")))
    }

    @Test func aPausedPortalLosesItsTurnAndResumingWakesIt() throws {
        try enqueue(10, to: "alpha")
        try PortalStore.setState(.paused, portal: "alpha", by: "test", on: db)
        #expect(try claimedPortal() == nil)
        #expect(try db.query("SELECT count(*) FROM outbox.portal_turns").first!.decode(0, as: Int64.self) == 0)
        try PortalStore.setState(.active, portal: "alpha", by: "test", on: db)
        #expect(try claimedPortal() == (try id("alpha")))
    }

    @Test func anExpiredLeaseWakesItsPortal() throws {
        try enqueue(3, to: "alpha")
        let claimed = try store.claim(limit: 10, lease: .seconds(60), on: db)
        #expect(claimed.count == 3)
        // Nothing pending: the next look removes alpha's turn.
        #expect(try claimedPortal() == nil)
        #expect(try db.query("SELECT count(*) FROM outbox.portal_turns").first!.decode(0, as: Int64.self) == 0)
        try db.execute("UPDATE outbox.intents SET lease_expires_at = now() - interval '1 second' WHERE status = 'claimed'")
        #expect(try IntentStore.reapExpiredLeases(chatSettle: .seconds(1), lease: .seconds(60), on: db) == 3)
        let again = try store.claim(limit: 10, lease: .seconds(60), on: db)
        #expect(Set(again.map(\.id)) == Set(claimed.map(\.id)))
    }

    @Test func maintenanceGivesAStrandedPortalItsTurnBack() throws {
        try enqueue(3, to: "alpha")
        _ = try db.query("SELECT outbox.fold_wakeups()")
        // What no statement of the outbox does: a turn removed by hand.
        try db.execute("DELETE FROM outbox.portal_turns")
        #expect(try claimedPortal() == nil)
        #expect(try db.query("SELECT outbox.wake_stranded_portals()").first!.decode(0, as: Int32.self) == 1)
        #expect(try db.query("SELECT outbox.wake_stranded_portals()").first!.decode(0, as: Int32.self) == 0)
        #expect(try claimedPortal() == (try id("alpha")))
    }

    @Test func producersWaitNeitherForAClaimNorForEachOther() throws {
        try enqueue(5, to: "alpha")
        // A claim holding alpha's turn, its transaction left open.
        let claimer = try scratch.connect()
        try claimer.execute("BEGIN")
        try claimer.execute("SELECT outbox.fold_wakeups()")
        let held: Int64? = try claimer.query("SELECT portal_id FROM outbox.take_turn(NULL, 1)").first!.decode(0)
        #expect(held == (try id("alpha")))
        // Two producers in open transactions of their own, for the same portals.
        let first = try scratch.connect(), second = try scratch.connect()
        for producer in [first, second] {
            try producer.execute("BEGIN")
            try producer.execute("SET LOCAL lock_timeout = '2s'")
            try enqueue(3, to: "alpha", on: producer)
            try enqueue(3, to: "beta", on: producer)
        }
        try first.execute("COMMIT")
        try second.execute("COMMIT")
        try claimer.execute("COMMIT")
        let claimed = try (0..<3).flatMap { _ in try store.claim(limit: 100, lease: .seconds(60), on: db) }
        #expect(claimed.count == 17)
    }

    @Test func aClaimThatFindsEveryDueTurnHeldWaitsForTheHolderInsteadOfGivingUp() throws {
        try enqueue(5, to: "alpha")
        try db.execute("SELECT outbox.fold_wakeups()")
        // Another claim holds alpha's turn; it commits once this claim is seen waiting for it.
        let holder = try scratch.connect()
        try holder.execute("BEGIN")
        #expect(try holder.query("SELECT portal_id FROM outbox.take_turn(NULL, 1)").first!.decode(0, as: Int64?.self) == (try id("alpha")))
        let watcher = try scratch.connect()
        let claimer = try scratch.connect()
        let claimerPID: Int32 = try claimer.query("SELECT pg_backend_pid()").first!.decode(0)
        nonisolated(unsafe) let claiming = claimer
        nonisolated(unsafe) var claim: IntentStore.Claim?
        let done = DispatchSemaphore(value: 0)
        let store = self.store
        Thread.detachNewThread {
            claim = try? store.claimTurn(limit: 10, perCall: 10, lease: .seconds(60), on: claiming)
            done.signal()
        }
        var sawWait = false
        for _ in 0..<2_000 where !sawWait {
            sawWait = try watcher.query(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [claimerPID]
            ).first!.decode(0, as: Int64.self) == 1
        }
        try holder.execute("COMMIT")
        done.wait()
        #expect(sawWait, "the claim waited for the held turn")
        #expect(claim?.portalID == (try id("alpha")) && claim?.intents.count == 5, "\(String(describing: claim))")
    }

    @Test func withNoTurnAnywhereAClaimSaysThereIsNothingToWaitFor() throws {
        let claim = try store.claimTurn(limit: 10, perCall: 10, lease: .seconds(60), on: db)
        #expect(claim.portalID == nil && claim.intents.isEmpty)
        // Not zero, which would have a worker ask again at once and forever.
        #expect(claim.wait == nil)
    }

    @Test func aClaimServesOnlyTheGivenPortals() throws {
        try enqueue(5, to: "alpha")
        try enqueue(5, to: "beta")
        let beta = try id("beta")
        let claim = try store.claimTurn(limit: 10, perCall: 10, lease: .seconds(60), portals: [beta], on: db)
        #expect(claim.portalID == beta && claim.intents.count == 5)
        let none = try store.claimTurn(limit: 10, perCall: 10, lease: .seconds(60), portals: [beta], on: db)
        #expect(none.portalID == nil && none.intents.isEmpty)
        #expect(try claimedPortal() == (try id("alpha")))
    }
}
