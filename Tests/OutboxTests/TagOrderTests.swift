import Bitrix24
import Bitrix24Simulator
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// Bitrix24 shows the last notification sent with a (recipient, TAG), so the outbox keeps them in
/// enqueue order: one in flight at a time, and a claimed one supersedes the older ones still
/// waiting, which are cancelled instead of being sent after it.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"), .serialized)
struct TagOrderTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        (scratch, db) = try migratedDatabase(portals: ["main"])
    }

    @Test func aNotificationWaitsWhileAnotherOfItsRecipientAndTagIsInFlight() throws {
        let ids = try Producer.enqueue([
            .notification(portal: "main", user: 5, message: "old", tag: "order-7", key: "a"),
            .notification(portal: "main", user: 6, message: "other user", tag: "order-7", key: "b"),
            .notification(portal: "main", user: 5, message: "other tag", tag: "order-8", key: "c"),
        ], on: db)
        let store = IntentStore(owner: "w1")
        let first = try store.claim(limit: 1, lease: .seconds(60), on: db)
        #expect(first.map(\.id) == [ids[0]])
        _ = try Producer.enqueue([.notification(portal: "main", user: 5, message: "new", tag: "order-7", key: "d")], on: db)
        // The other recipient and the other TAG go; "new" waits for "old".
        let second = try store.claim(limit: 10, lease: .seconds(60), on: db)
        #expect(second.map(\.id) == [ids[1], ids[2]])
        #expect(try store.claim(limit: 10, lease: .seconds(60), on: db).isEmpty)
        try store.finish([(first[0], .delivered(resultID: 1, details: [:]))], on: db)
        // The empty claim moved the portal's turn 50 ms on.
        var third: [ClaimedIntent] = []
        for _ in 0..<100 where third.isEmpty {
            Thread.sleep(forTimeInterval: 0.02)
            third = try store.claim(limit: 10, lease: .seconds(60), on: db)
        }
        #expect(third.map { $0.payload["MESSAGE"]?.stringValue } == ["new"])
    }

    @Test func ofSeveralOfOneRecipientAndTagDueTogetherOnlyTheNewestIsSent() throws {
        let ids = try Producer.enqueue([
            .notification(portal: "main", user: 5, message: "first", tag: "t", key: "1"),
            .notification(portal: "main", user: 5, message: "second", tag: "t", key: "2"),
            .notification(portal: "main", user: 7, message: "someone else", tag: "t", key: "3"),
            .notification(portal: "main", user: 5, message: "third", tag: "t", key: "4"),
        ], on: db)
        let claimed = try IntentStore(owner: "w1").claim(limit: 10, lease: .seconds(60), on: db)
        // In one claim they could still land in different calls and finish out of order.
        #expect(claimed.map(\.id) == [ids[2], ids[3]])
        let superseded = try db.query(
            "SELECT intent_id, data->>'by' FROM outbox.log WHERE type = 'intent.superseded' ORDER BY intent_id"
        ).map { "\(try $0.decode(0, as: Int64.self)) by \(try $0.decode(1, as: String.self))" }
        #expect(superseded == ["\(ids[0]) by \(ids[3])", "\(ids[1]) by \(ids[3])"])
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    @Test func aClaimedNotificationSupersedesTheOlderOnesOfItsRecipientAndTagThatStillWait() throws {
        let store = IntentStore(owner: "w1")
        let old = try Producer.enqueue([.notification(portal: "main", user: 5, message: "old", tag: "t", key: "old")], on: db)[0]
        let claimed = try store.claim(limit: 10, lease: .seconds(60), on: db)
        // The first send failed: "old" waits for its retry, and "new" arrives meanwhile.
        try store.finish([(claimed[0], .retry(after: .seconds(3_600), details: ["error": "INTERNAL_SERVER_ERROR"]))], on: db)
        let new = try Producer.enqueue([.notification(portal: "main", user: 5, message: "new", tag: "t", key: "new")], on: db)[0]
        // Scheduled later, still older: it would replace "new" when it went out.
        let later = try Producer.enqueue([.notification(portal: "main", user: 5, message: "later", tag: "t", key: "later",
                                                        notBefore: Date().addingTimeInterval(7_200))], on: db)[0]
        #expect(later > new)
        let next = try store.claim(limit: 10, lease: .seconds(60), on: db)
        #expect(next.map(\.id) == [new])
        let statuses = try db.query("SELECT id, status FROM outbox.intents ORDER BY id").map {
            (try $0.decode(0, as: Int64.self), try $0.decode(1, as: String.self))
        }
        // "later" is newer than "new": it stays, and will replace it in two hours, as enqueued.
        #expect(statuses.map(\.1) == ["cancelled", "claimed", "pending"])
        let entry = try db.query("SELECT data->>'by' FROM outbox.log WHERE intent_id = $1 AND type = 'intent.superseded'", [old])
        #expect(try entry.map { try $0.decode(0, as: String.self) } == ["\(new)"])
        #expect(try Verifier().verify(on: db).isConsistent)
    }

    /// Many notifications for few (recipient, TAG) pairs through faults, with workers claiming
    /// side by side: each pair's screen shows its newest text.
    @Test func throughFaultsEachRecipientAndTagShowsItsNewestText() async throws {
        try await DeliveryHarness.with({ c in
            c.faults.failBefore = 0.1
            c.faults.failAfter = 0.1
            c.faults.dropAfter = 0.05
        }) { h in
            var newest: [String: String] = [:]
            for round in 0..<8 {
                var batch: [NewIntent] = []
                for user in 1...6 {
                    for tag in ["a", "b", "c"] {
                        let text = "\(user)-\(tag)-\(round)"
                        batch.append(.notification(portal: h.portal, user: Int64(user), message: text, tag: tag, key: text))
                        newest["\(user)|\(tag)"] = text
                    }
                }
                _ = try Producer.enqueue(batch, on: h.db)
            }
            try await h.deliver(concurrency: 4, batch: 5)
            let state = await h.simulator.snapshot()
            let shown = Dictionary(state.notifications.map { ("\($0.userID)|\($0.tag ?? "")", $0.message) }, uniquingKeysWith: { $1 })
            #expect(shown == newest)
            #expect(try h.count("SELECT count(*) FROM outbox.intents WHERE status NOT IN ('delivered', 'cancelled')") == 0)
            #expect(try Verifier().verify(on: h.db).isConsistent)
        }
    }
}
