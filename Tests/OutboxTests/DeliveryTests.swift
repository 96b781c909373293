import Bitrix24
import Bitrix24Simulator
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct DeliveryTests {
    @Test func everyIntentDeliveredExactlyOnceThroughFaults() async throws {
        try await DeliveryHarness.with({
            $0.faults.failBefore = 0.10
            $0.faults.failAfter = 0.10
            $0.faults.dropAfter = 0.05
            $0.faults.seed = 2024
        }) { h in
        var intents = (0..<2000).map { i in
            NewIntent.notification(portal: h.portal, user: Int64(i % 1000 + 1), message: "Order \(i) shipped", key: "order-\(i)")
        }
        intents += (0..<100).map { i in
            NewIntent.chat(portal: h.portal, fields: ["TITLE": .string("Deal \(i)"), "USERS": [1, .int(Int64(i % 50 + 2))]], key: "deal-\(i)")
        }
        _ = try Producer.enqueue(intents, on: h.db)

        // Batches of 10 make over 200 requests, so every kind of fault happens many times.
        try await h.deliver(concurrency: 4, batch: 10)

        #expect(try h.statusCounts() == ["delivered": 2100])
        try await h.expectOneEffectEach(notifications: 2000, chats: 100)
        TestSecrets.expectAbsent(TestSecrets.known, in: try h.everythingButSecrets(), "the log or intents")
        }
    }

    @Test func permanentFailuresGoDeadAtOnceAndReplayDeliversAfterTheFix() async throws {
        try await DeliveryHarness.with({ $0.users = UserSet(1...100) }) { h in
        let ok = try Producer.enqueue(.notification(portal: h.portal, user: 5, message: "hi", key: "ok"), on: h.db)
        let missing = try Producer.enqueue(.notification(portal: h.portal, user: 500, message: "hi", key: "nobody"), on: h.db)

        try await h.deliver()

        #expect(try h.db.query("SELECT status, attempts FROM outbox.intents WHERE id = $1", [missing]).first.map {
            [try $0.decode(0, as: String.self), String(try $0.decode(1, as: Int.self))] } == ["dead", "1"])
        let dead = try AuditLog.entries({ var f = AuditLog.Filter(); f.intentID = missing; f.type = "intent.dead"; return f }(), on: h.db)
        #expect(dead.count == 1)
        #expect(dead.first?.data["error"] == "RESULT_FALSE")
        #expect(dead.first?.data["method"] == "im.notify.personal.add")
        #expect(try Stats.read(on: h.db).deadByError.map { "\($0.error):\($0.count)" } == ["RESULT_FALSE:1"])

        // The cause is fixed on the portal, then the dead intent is replayed.
        await h.simulator.setUser(500, active: true)
        #expect(try IntentStore.replay(.init(errorCode: "result_false"), by: "test", dryRun: false, on: h.db) == [missing])
        try await h.deliver()
        #expect(try h.count("SELECT count(*) FROM outbox.intents WHERE status = 'delivered'") == 2)
        #expect(await h.simulator.snapshot().notifications(for: 500).count == 1)
        #expect(ok != missing)
        #expect(try Verifier().verify(on: h.db).isConsistent)
        }
    }

    @Test func anExpiredTokenIsRefreshedOnceAndStored() async throws {
        try await DeliveryHarness.with(oauth: true, { $0.latency = .milliseconds(40) }) { h in
        _ = try Producer.enqueue((0..<400).map {
            .notification(portal: h.portal, user: Int64($0 % 100 + 1), message: "m\($0)", key: "k\($0)")
        }, on: h.db)
        // The token expires while the pool is delivering.
        let (conninfo, simulator) = (h.scratch.conninfo, h.simulator)
        let expirer = Task {
            let db = try Connection(conninfo)
            while try db.query("SELECT count(*) FROM outbox.intents WHERE status = 'delivered'").first!.decode(0, as: Int.self) < 40 {
                try await Task.sleep(for: .milliseconds(20))
            }
            await simulator.expireAccessTokens()
        }
        try await h.deliver(concurrency: 4, batch: 10)
        try await expirer.value

        #expect(try h.statusCounts() == ["delivered": 400])
        let state = await h.simulator.snapshot()
        #expect(state.refreshes == 1)
        #expect(state.rejected["expired_token", default: 0] >= 1)
        let tokens = await h.simulator.currentTokens()
        let stored = try h.db.query("SELECT access_token, refresh_token FROM outbox.portals WHERE name = 'sim'").first!
        #expect(try stored.decode(0, as: String.self) == tokens.accessToken)
        #expect(try stored.decode(1, as: String.self) == tokens.refreshToken)
        #expect(try h.count("SELECT count(*) FROM outbox.log WHERE type = 'portal.tokens_refreshed'") == 1)
        // No attempt was spent on the expiry.
        #expect(try h.count("SELECT max(attempts) FROM outbox.intents") == 1)
        TestSecrets.expectAbsent(TestSecrets.known + [tokens.accessToken, tokens.refreshToken],
                                 in: try h.everythingButSecrets(), "the log or intents")
        }
    }

    @Test func twoPoolsSharingATokenPairRefreshItOnce() async throws {
        try await DeliveryHarness.with(oauth: true, { $0.latency = .milliseconds(20) }) { h in
            _ = try Producer.enqueue((0..<300).map {
                .notification(portal: h.portal, user: Int64($0 % 100 + 1), message: "s\($0)", key: "s\($0)")
            }, on: h.db)
            // Expired before either pool starts: both meet expired_token at once.
            await h.simulator.expireAccessTokens()
            // Two pools with their own clients stand for two worker processes.
            let conninfo = h.scratch.conninfo
            async let first: Void = DeliveryHarness.deliver(conninfo: conninfo, concurrency: 2, batch: 10)
            async let second: Void = DeliveryHarness.deliver(conninfo: conninfo, concurrency: 2, batch: 10)
            _ = try await (first, second)
            #expect(try h.statusCounts() == ["delivered": 300])
            let state = await h.simulator.snapshot()
            #expect(state.refreshes == 1)
            #expect(state.refreshErrors.isEmpty)
        }
    }

    @Test func rateLimitedCallsAreReleasedWithoutSpendingAttempts() async throws {
        // Our mirror thinks the bucket is huge; the portal's real one is tiny.
        try await DeliveryHarness.with({ $0.rateLimit = .init(capacity: 2, drainPerSecond: 1) }) { h in
        _ = try Producer.enqueue((0..<60).map {
            .notification(portal: h.portal, user: Int64($0 + 1), message: "m", key: "r\($0)")
        }, on: h.db)
        try await h.deliver(concurrency: 3, batch: 5, retry: RetryPolicy(base: .milliseconds(20), cap: .milliseconds(100), maxAttempts: 2))
        #expect(try h.statusCounts() == ["delivered": 60])
        #expect(await h.simulator.snapshot().rejected["QUERY_LIMIT_EXCEEDED", default: 0] > 0)
        #expect(try h.count("SELECT count(*) FROM outbox.log WHERE type = 'intent.released'") > 0)
        #expect(try Verifier().verify(on: h.db).isConsistent)
        }
    }
}
