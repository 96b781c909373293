import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// One chat per entity pair against the simulator, whatever happens: replays, chats made
/// elsewhere, unreadable lookups, creations still running at the portal after their client
/// gave up, and leases lost while such a creation runs.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"), .timeLimit(.minutes(2)))
struct OneChatPerPairTests {
    static let fields: [String: JSONValue] = ["TITLE": "Deal 7", "ENTITY_TYPE": "SHOP_DEAL", "ENTITY_ID": "7", "USERS": [2, 3]]

    func chats(_ h: DeliveryHarness) async -> [Simulator.Chat] {
        await h.simulator.snapshot().chats(entityType: "SHOP_DEAL", entityID: "7")
    }

    func row(_ h: DeliveryHarness, _ id: Int64) throws -> (status: String, resultID: Int64?) {
        let row = try h.db.query("SELECT status, result_id FROM outbox.intents WHERE id = $1", [id]).first!
        return (try row.decode(0), try row.decode(1))
    }

    @Test("a delivered chat replayed and delivered again is still one chat")
    func aReplayedChatIsNotCreatedTwice() async throws {
        try await DeliveryHarness.with { h in
            let id = try Producer.enqueue(.chat(portal: h.portal, fields: Self.fields), on: h.db)
            try await h.deliver()
            let created = try #require(try row(h, id).resultID)
            #expect(try IntentStore.replay(.init(ids: [id], statuses: [.delivered]), by: "test", dryRun: false, on: h.db) == [id])
            try await h.deliver()

            #expect(await chats(h).map(\.id) == [created])
            #expect(try row(h, id) == ("delivered", created))
            let found = try AuditLog.entries({ var f = AuditLog.Filter(); f.intentID = id; f.type = "delivery.succeeded"; return f }(), on: h.db)
            #expect(found.last?.data["found_existing_chat"] == true)
            #expect(try Verifier().verify(on: h.db).isConsistent)
        }
    }

    @Test("a first attempt finds a chat that the portal already has for the pair, and creates none")
    func aChatMadeElsewhereIsFound() async throws {
        try await DeliveryHarness.with { h in
            let client = Bitrix24Client(credentials: try .webhook(h.simulator.webhookURL, allowInsecureHTTP: true))
            let existing = try await client.chatAdd(ChatFields(title: "made by a user", entityType: "SHOP_DEAL", entityID: "7"))
            try await client.shutdown()
            let id = try Producer.enqueue(.chat(portal: h.portal, fields: Self.fields), on: h.db)
            try await h.deliver()
            #expect(await chats(h).map(\.id) == [existing])
            #expect(try row(h, id) == ("delivered", existing))
        }
    }

    @Test("a lookup answer that cannot be read is retried, never taken for \"none\"; the chat is made once it reads again")
    func anUnreadableLookupCreatesNothing() async throws {
        try await DeliveryHarness.with { h in
            await h.simulator.answerChatLookupsMalformed(true)
            let id = try Producer.enqueue(.chat(portal: h.portal, fields: Self.fields), on: h.db)
            try await h.deliver(retry: RetryPolicy(base: .milliseconds(10), cap: .milliseconds(20), maxAttempts: 3))

            #expect(await chats(h).isEmpty)
            #expect(await h.simulator.snapshot().malformedChatLookups == 3)
            #expect(try row(h, id).status == "dead")
            let failures = try h.db.query(
                "SELECT data->>'error', data->>'class' FROM outbox.log WHERE intent_id = $1 AND type IN ('delivery.failed', 'intent.dead') ORDER BY seq",
                [id]).map { [try $0.decode(0, as: String.self), try $0.decode(1, as: String.self)] }
            #expect(failures == Array(repeating: ["UNEXPECTED_RESULT", "ambiguous"], count: 3))

            await h.simulator.answerChatLookupsMalformed(false)
            #expect(try IntentStore.replay(.init(ids: [id]), by: "test", dryRun: false, on: h.db) == [id])
            try await h.deliver()
            #expect(await chats(h).count == 1)
            #expect(try row(h, id).status == "delivered")
        }
    }

    @Test("a creation that completes at the portal after the client's timeout is waited out, then found")
    func aCreationStillRunningIsWaitedOut() async throws {
        try await DeliveryHarness.with { h in
            await h.simulator.holdCalls(to: "im.chat.add")
            let id = try Producer.enqueue(.chat(portal: h.portal, fields: Self.fields), on: h.db)
            let simulator = h.simulator
            // The portal runs the held creation 3 s after it arrived: past the client's 2 s
            // deadline, well within the 5 s the pool is told the portal may go on after it.
            let portal = Task {
                while await simulator.heldCallCount(for: "im.chat.add") == 0 { try await Task.sleep(for: .milliseconds(20)) }
                try await Task.sleep(for: .seconds(3))
                await simulator.releaseHeldCalls()
            }
            try await h.deliver(batch: 1) {
                $0.requestTimeout = .seconds(2)
                $0.portalExecutionLimit = .seconds(5)
            }
            try await portal.value

            let all = await chats(h)
            #expect(all.count == 1, "\(all.map(\.id))")
            #expect(try row(h, id) == ("delivered", all.first?.id))
            // The creation timed out; the attempt after the wait found the chat it made. (On a
            // loaded machine a lookup may time out too: that is retried like any other.)
            let entries = try h.db.query("""
                SELECT type, data->>'method', data->>'error', data->>'found_existing_chat'
                  FROM outbox.log WHERE intent_id = $1 AND type LIKE 'delivery.%' ORDER BY seq
                """, [id]).map { row in try (0..<4).map { try row.decode($0, as: String?.self) ?? "" } }
            #expect(entries.contains(["delivery.failed", "im.chat.add", "TIMEOUT", ""]))
            #expect(entries.last == ["delivery.succeeded", "im.chat.get", "", "true"])
        }
    }

    @Test("a chat whose worker died with its creation in flight is not sent again until that creation can no longer be running")
    func aReclaimedChatWaitsForThePreviousAttempt() async throws {
        try await DeliveryHarness.with { h in
            await h.simulator.holdCalls(to: "im.chat.add")
            let id = try Producer.enqueue(.chat(portal: h.portal, fields: Self.fields), on: h.db)
            // A worker claims it under a short lease, sends the creation, and dies: its request
            // stays at the portal, held.
            let ghost = try IntentStore(owner: "ghost").claim(limit: 1, lease: .seconds(1), on: h.db)
            #expect(ghost.map(\.id) == [id])
            let webhook = h.simulator.webhookURL
            let inFlight = Task {
                let client = Bitrix24Client(credentials: try .webhook(webhook, allowInsecureHTTP: true))
                _ = try? await client.call("im.chat.add", params: ghost[0].payload)
                try await client.shutdown()
            }
            while await h.simulator.heldCallCount(for: "im.chat.add") == 0 { try await Task.sleep(for: .milliseconds(20)) }
            while try h.db.query("SELECT now() <= $1::timestamptz", [ghost[0].leaseExpiresAt]).first!.decode(0, as: Bool.self) {
                try await Task.sleep(for: .milliseconds(20))
            }

            // The next worker reaps the lease at once; the old request completes at the
            // portal 1 s after the lease's end, well before that end plus the 1 s request timeout
            // and 3 s the portal may run on.
            let conninfo = h.scratch.conninfo, simulator = h.simulator
            let portal = Task {
                let db = try Connection(conninfo)
                defer { db.close() }
                while try db.query("SELECT now() < $1::timestamptz + interval '1 s'", [ghost[0].leaseExpiresAt]).first!.decode(0, as: Bool.self) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                await simulator.releaseHeldCalls()
            }
            try await h.deliver(batch: 1) {
                $0.requestTimeout = .seconds(1)
                $0.portalExecutionLimit = .seconds(3)
            }
            try await portal.value
            try await inFlight.value

            let all = await chats(h)
            #expect(all.count == 1, "\(all.map(\.id))")
            #expect(try row(h, id) == ("delivered", all.first?.id))
            let expired = try h.db.query("""
                SELECT (data->>'next_attempt_at')::timestamptz - (data->>'lease_expires_at')::timestamptz >= interval '4 s'
                  FROM outbox.log WHERE intent_id = $1 AND type = 'intent.lease_expired'
                """, [id]).map { try $0.decode(0, as: Bool.self) }
            #expect(expired == [true], "due again no sooner than the lease's end plus request timeout and execution limit")
            #expect(try Verifier().verify(on: h.db).isConsistent)
        }
    }
}
