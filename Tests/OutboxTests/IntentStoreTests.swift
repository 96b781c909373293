import Bitrix24
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct IntentStoreTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        scratch = try ScratchDatabase()
        db = try scratch.connect()
        try Migrator().migrate(on: db)
        for name in ["alpha", "beta"] {
            try db.execute("""
                INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code)
                VALUES ($1, 'https://example.bitrix24.com', 'webhook', 1, 'c0de')
                """, [name])
        }
    }

    func enqueue(_ count: Int, portal: String = "alpha") throws -> [Int64] {
        try Producer.enqueue((0..<count).map {
            .notification(portal: portal, user: Int64($0 + 1), message: "m\($0)", key: "\(portal)-\($0)")
        }, on: db)
    }

    func status(_ id: Int64) throws -> String {
        try db.query("SELECT status FROM outbox.intents WHERE id = $1", [id]).first!.decode(0)
    }

    @Test func claimTakesOnePortalAtATimeUnderALease() throws {
        _ = try enqueue(3, portal: "alpha")
        _ = try enqueue(2, portal: "beta")
        let store = IntentStore(owner: "w1")
        let first = try store.claim(limit: 50, lease: .seconds(60), on: db)
        #expect(first.count == 3)
        #expect(Set(first.map(\.portalID)).count == 1)
        #expect(first.allSatisfy { $0.attempt == 1 && $0.leaseExpiresAt > Date() })
        let second = try store.claim(limit: 50, lease: .seconds(60), on: db)
        #expect(second.count == 2)
        #expect(try store.claim(limit: 50, lease: .seconds(60), on: db).isEmpty)
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test("a paused portal is not claimed, its intents stay pending with no attempt spent, and resume claims them")
    func aPausedPortalIsNotClaimed() throws {
        let alpha = try enqueue(3, portal: "alpha")
        _ = try enqueue(2, portal: "beta")
        #expect(try PortalStore.setState(.paused, portal: "alpha", by: "test", on: db))
        #expect(try !PortalStore.setState(.paused, portal: "alpha", by: "test", on: db), "paused already: nothing written")
        #expect(try PortalStore.portal(named: "alpha", on: db)?.state == .paused)
        let store = IntentStore(owner: "w1")
        let claimed = try store.claim(limit: 50, lease: .seconds(60), on: db)
        #expect(claimed.count == 2 && Set(claimed.map(\.portalID)).count == 1)
        #expect(try store.claim(limit: 50, lease: .seconds(60), on: db).isEmpty, "alpha's intents are due but paused")
        for id in alpha {
            #expect(try status(id) == "pending")
            #expect(try db.query("SELECT attempts FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: Int.self) == 0)
        }
        #expect(try PortalStore.setState(.active, portal: "alpha", by: "test", on: db))
        #expect(try Set(store.claim(limit: 50, lease: .seconds(60), on: db).map(\.id)) == Set(alpha))
        let entries: [String] = try db.query("""
            SELECT type || ' ' || (data->>'by') FROM outbox.log WHERE stream = 'portal-alpha' AND type IN ('portal.paused', 'portal.resumed') ORDER BY seq
            """).map { try $0.decode(0) }
        #expect(entries == ["portal.paused test", "portal.resumed test"])
        #expect(throws: PortalStore.PortalError.self) { try PortalStore.setState(.paused, portal: "gamma", by: "test", on: db) }
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test func aClaimLimitedToSomePortalsLeavesTheOthersAlone() throws {
        _ = try enqueue(3, portal: "alpha")
        _ = try enqueue(2, portal: "beta")
        let beta: Int64 = try db.query("SELECT id FROM outbox.portals WHERE name = 'beta'").first!.decode(0)
        let store = IntentStore(owner: "w1")
        let claimed = try store.claim(limit: 50, lease: .seconds(60), portals: [beta], on: db)
        #expect(claimed.count == 2 && claimed.allSatisfy { $0.portalID == beta })
        #expect(try store.claim(limit: 50, lease: .seconds(60), portals: [beta], on: db).isEmpty)
        #expect(try Stats.read(portal: "alpha", on: db).intents.map { "\($0.portal) \($0.status) \($0.count)" } == ["alpha pending 3"])
        #expect(try Stats.read(portal: "beta", on: db).intents.map { "\($0.portal) \($0.status) \($0.count)" } == ["beta claimed 2"])
    }

    @Test func concurrentClaimersNeverShareAnIntent() async throws {
        _ = try enqueue(400)
        // The portal's bucket is not what this is about: room for every claim.
        try db.execute("UPDATE outbox.portals SET rate_bucket = 100000, rate_drain = 100000")
        let conninfo = scratch.conninfo
        let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    let db = try Connection(conninfo)
                    let store = IntentStore(owner: "w\(worker)")
                    var mine: [Int64] = []
                    // An empty claim may only mean another claimer holds the portal's turn; a
                    // bound, so a claim that never comes fails the test instead of hanging it.
                    for _ in 0..<10_000 {
                        guard try db.query("SELECT count(*) FROM outbox.intents WHERE status = 'pending'").first!.decode(0, as: Int64.self) > 0 else { break }
                        mine += try store.claim(limit: 7, lease: .seconds(60), on: db).map(\.id)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Int64]()) { $0 += $1 }
        }
        #expect(claimed.count == 400)
        #expect(Set(claimed).count == 400)
    }

    @Test func finishRecordsEachOutcomeWithItsLogEntry() throws {
        let ids = try enqueue(4)
        let store = IntentStore(owner: "w1")
        let claimed = try store.claim(limit: 10, lease: .seconds(60), on: db)
        let result = try store.finish([
            (claimed[0], .delivered(resultID: 17766, details: ["http_status": 200])),
            (claimed[1], .retry(after: .seconds(30), details: ["error": "INTERNAL_SERVER_ERROR"])),
            (claimed[2], .dead(details: ["error": "USER_ID_EMPTY"])),
            (claimed[3], .released(after: .zero, reason: "rate limited")),
        ], on: db)
        #expect(result.recorded.sorted() == ids)
        #expect(result.lost.isEmpty)
        #expect(try status(ids[0]) == "delivered")
        #expect(try db.query("SELECT result_id FROM outbox.intents WHERE id = $1", [ids[0]]).first!.decode(0, as: Int64.self) == 17766)
        #expect(try status(ids[1]) == "pending")
        #expect(try status(ids[2]) == "dead")
        #expect(try status(ids[3]) == "pending")
        // A release gives the attempt back.
        #expect(try db.query("SELECT attempts FROM outbox.intents WHERE id = $1", [ids[3]]).first!.decode(0, as: Int.self) == 0)
        let types = try db.query("SELECT type FROM outbox.log WHERE intent_id = $1 ORDER BY seq", [ids[1]]).map { try $0.decode(0, as: String.self) }
        #expect(types == ["intent.enqueued", "intent.claimed", "delivery.failed"])
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test func aWorkerWhoseLeaseWasReclaimedCannotOverwrite() throws {
        let ids = try enqueue(1)
        let late = IntentStore(owner: "late")
        let claimed = try late.claim(limit: 1, lease: .milliseconds(1), on: db)
        Thread.sleep(forTimeInterval: 0.05)
        #expect(try IntentStore.reapExpiredLeases(on: db) == 1)
        let fresh = IntentStore(owner: "fresh")
        let reclaimed = try fresh.claim(limit: 1, lease: .seconds(60), on: db)
        #expect(reclaimed.first?.attempt == 2)
        // The late worker's answer arrives now: it must not land.
        let result = try late.finish([(claimed[0], .dead(details: ["error": "late"]))], on: db)
        #expect(result.lost == ids)
        #expect(try status(ids[0]) == "claimed")
        try fresh.finish([(reclaimed[0], .delivered(resultID: 1, details: [:]))], on: db)
        #expect(try status(ids[0]) == "delivered")
        let types = try db.query("SELECT type FROM outbox.log WHERE intent_id = $1 ORDER BY seq", [ids[0]]).map { try $0.decode(0, as: String.self) }
        #expect(types == ["intent.enqueued", "intent.claimed", "intent.lease_expired", "intent.claimed", "delivery.succeeded"])
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test func cancelAndReplay() throws {
        let ids = try enqueue(3)
        #expect(try IntentStore.cancel([ids[0]], by: "test", on: db) == [ids[0]])
        let store = IntentStore(owner: "w1")
        let claimed = try store.claim(limit: 10, lease: .seconds(60), on: db)
        #expect(claimed.map(\.id) == [ids[1], ids[2]])
        // In flight: not cancellable.
        #expect(try IntentStore.cancel([ids[1]], by: "test", on: db).isEmpty)
        try store.finish([(claimed[0], .dead(details: ["error": "ACCESS_DENIED"])), (claimed[1], .dead(details: ["error": "USER_ID_EMPTY"]))], on: db)

        let dry = try IntentStore.replay(.init(errorCode: "access_denied"), by: "test", dryRun: true, on: db)
        #expect(dry == [ids[1]])
        #expect(try status(ids[1]) == "dead")
        let replayed = try IntentStore.replay(.init(errorCode: "access_denied"), by: "test", dryRun: false, on: db)
        #expect(replayed == [ids[1]])
        #expect(try status(ids[1]) == "pending")
        let again = try store.claim(limit: 10, lease: .seconds(60), on: db)
        #expect(again.map(\.id) == [ids[1]])
        #expect(again.first?.attempt == 1)
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test func verifyReportsARowTheLogDoesNotExplain() throws {
        let ids = try enqueue(2)
        #expect(try Verifier().verify(on: db).isConsistent)
        // Someone edits the projection behind the log's back.
        try db.execute("UPDATE outbox.intents SET status = 'delivered', delivered_at = now() WHERE id = $1", [ids[1]])
        let report = try Verifier().verify(on: db)
        #expect(report.intents == 2)
        #expect(report.mismatches.map(\.intentID) == [ids[1]])
        #expect(report.mismatches.first?.problem.contains("status is delivered, the log says pending") == true)
    }
}

