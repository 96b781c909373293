import Bitrix24
import Bitrix24Simulator
import Foundation
import MetricsTestKit
import Outbox
import Postgres
import Testing
import TestSupport

/// Token refreshes shared by every process through `outbox.token_refreshes` (sql/017), against
/// the simulator's OAuth endpoint.
@Suite("Token refresh across processes", .enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct SharedTokenRefreshTests {
    func notifications(_ h: DeliveryHarness, _ count: Int, prefix: String) -> [NewIntent] {
        (0..<count).map { .notification(portal: h.portal, user: Int64($0 % 100 + 1), message: "\(prefix)\($0)", key: "\(prefix)\($0)") }
    }

    func logCount(_ h: DeliveryHarness, _ type: String) throws -> Int {
        try h.count("SELECT count(*) FROM outbox.log WHERE type = $1", [type])
    }

    func storedPair(_ h: DeliveryHarness) throws -> [String] {
        let row = try h.db.query("SELECT access_token, refresh_token FROM outbox.portals WHERE name = 'sim'").first!
        return [try row.decode(0), try row.decode(1)]
    }

    @Test("producers enqueue for the portal while its refresh is held open at the OAuth server, and a producer's open transaction never holds the refresh up")
    func producersNeverWaitForARefresh() async throws {
        try await DeliveryHarness.with(oauth: true) { h in
            _ = try Producer.enqueue(notifications(h, 40, prefix: "before"), on: h.db)
            // A producer whose transaction stays open across the whole refresh: it holds its
            // portal FOR KEY SHARE until it commits.
            let longProducer = try h.scratch.connect()
            try longProducer.execute("BEGIN")
            _ = try Producer.enqueue(notifications(h, 5, prefix: "long"), on: longProducer)

            await h.simulator.expireAccessTokens()
            await h.simulator.holdCalls(to: "oauth.token")
            let conninfo = h.scratch.conninfo
            let delivery = Task { try await DeliveryHarness.deliver(conninfo: conninfo, concurrency: 2, batch: 10) }
            #expect(try await poll { await h.simulator.heldCallCount(for: "oauth.token") == 1 }, "the refresh is held")
            #expect(try h.count("SELECT count(*) FROM outbox.token_refreshes WHERE state = 'running'") == 1)

            // Any wait for a lock would end in an error here, not in a slow enqueue.
            let producer = try h.scratch.connect()
            try producer.execute("SET lock_timeout = '1s'")
            for round in 0..<5 {
                _ = try Producer.enqueue(notifications(h, 4, prefix: "during\(round)-"), on: producer)
            }
            try producer.execute("BEGIN")
            _ = try Producer.enqueue(notifications(h, 4, prefix: "during-tx"), on: producer)
            try producer.execute("COMMIT")

            await h.simulator.releaseHeldCalls()
            // The pool finishes (the refresh stored) while the long transaction is still open.
            try await delivery.value
            #expect(try h.count("SELECT count(*) FROM outbox.intents WHERE status = 'delivered'") == 40 + 24)
            #expect(try storedPair(h) == [await h.simulator.currentTokens().accessToken, await h.simulator.currentTokens().refreshToken])
            try longProducer.execute("COMMIT")

            try await h.deliver(concurrency: 2, batch: 10)
            #expect(try h.statusCounts() == ["delivered": 69])
            #expect(await h.simulator.snapshot().refreshes == 1)
            #expect(try logCount(h, "portal.tokens_refreshed") == 1)
            #expect(try h.count("SELECT count(*) FROM outbox.token_refreshes") == 0, "the turn ends with the stored pair")
        }
    }

    @Test("a refreshed pair the database refuses once is kept, used and stored again")
    func aPairThatFailsToBeStoredIsStoredAgain() async throws {
        try await DeliveryHarness.with(oauth: true) { h in
            // The first store of a new pair fails as a full disk would; a sequence counts the
            // tries (it is not rolled back with the failing statement).
            try h.db.executeScript("""
                CREATE SEQUENCE public.token_stores;
                CREATE FUNCTION public.refuse_first_token_store() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF nextval('public.token_stores') = 1 THEN
                        RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full';
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER refuse_first_token_store BEFORE UPDATE OF refresh_token ON outbox.portals
                    FOR EACH ROW EXECUTE FUNCTION public.refuse_first_token_store();
                """)
            _ = try Producer.enqueue(notifications(h, 200, prefix: "s"), on: h.db)
            await h.simulator.expireAccessTokens()
            let metrics = TestMetrics()
            try await h.deliver(concurrency: 2, batch: 10) { $0.metrics = OutboxMetrics(factory: metrics) }

            #expect(try h.statusCounts() == ["delivered": 200], "the pool went on with the pair it kept")
            let tokens = await h.simulator.currentTokens()
            #expect(try await poll { try storedPair(h) == [tokens.accessToken, tokens.refreshToken] }, "stored on the second try")
            #expect(try h.count("SELECT last_value FROM public.token_stores") == 2)
            let state = await h.simulator.snapshot()
            #expect(state.refreshes == 1)
            #expect(state.refreshErrors.isEmpty)
            #expect(try logCount(h, "portal.tokens_refreshed") == 1)
            #expect(metrics.counterTotal(label: OutboxMetrics.Name.tokenRefreshes, dimensions: [("portal", "sim"), ("outcome", "store_failed")]) == 1)

            // The next process starts from the stored pair and needs no refresh.
            _ = try Producer.enqueue(notifications(h, 20, prefix: "next"), on: h.db)
            try await h.deliver(concurrency: 2, batch: 10)
            #expect(try h.statusCounts() == ["delivered": 220])
            #expect(await h.simulator.snapshot().refreshes == 1)
        }
    }

    @Test("two processes and a refresh whose answer is lost after the pair rotated: one retry in all, the loss logged and counted, and set-tokens recovers without a restart")
    func aLostRefreshAnswer() async throws {
        try await DeliveryHarness.with(oauth: true) { h in
            let login = "b24o_refresh_\(UUID().uuidString.prefix(8).lowercased())"
            try h.db.execute("CREATE ROLE \(login) LOGIN IN ROLE b24outbox_worker")
            defer { _ = try? h.db.execute("DROP ROLE IF EXISTS \(login)") }
            // Both processes run as the least-privilege worker role.
            let asWorker = RoleTests.uri(h.scratch.conninfo, user: login)

            _ = try Producer.enqueue(notifications(h, 100, prefix: "l"), on: h.db)
            await h.simulator.expireAccessTokens()
            await h.simulator.loseRefreshAnswers(1)
            let metrics = [TestMetrics(), TestMetrics()]
            var configuration = WorkerPool.Configuration()
            configuration.requestTimeout = .seconds(10)
            let clients = metrics.map { m in
                configuration.metrics = OutboxMetrics(factory: m)
                return DeliveryHarness.clients(conninfo: asWorker, configuration: configuration)
            }
            async let first: Void = DeliveryHarness.deliver(conninfo: asWorker, clients: clients[0], concurrency: 2, batch: 10)
            async let second: Void = DeliveryHarness.deliver(conninfo: asWorker, clients: clients[1], concurrency: 2, batch: 10)
            _ = try await (first, second)

            let state = await h.simulator.snapshot()
            #expect(state.refreshAnswersLost == 1)
            #expect(state.refreshes == 1, "the lost exchange rotated the pair")
            #expect(state.refreshErrors == ["invalid_grant": 1], "the spent token was tried once more, by one process")
            #expect(try logCount(h, "portal.token_refresh_unanswered") == 1)
            #expect(try logCount(h, "portal.tokens_lost") == 1)
            #expect(try h.count("SELECT count(*) FROM outbox.token_refreshes WHERE state = 'refused'") == 1)
            func total(_ outcome: String) -> Int64 {
                metrics.map { $0.counterTotal(label: OutboxMetrics.Name.tokenRefreshes, dimensions: [("portal", "sim"), ("outcome", outcome)]) }
                    .reduce(0, +)
            }
            #expect(total("unanswered") == 1)
            #expect(total("lost") == 1)
            // Nothing was sent twice and nothing is left claimed: every intent died of the
            // lost pair, to be replayed.
            #expect(try h.statusCounts() == ["dead": 100])
            #expect(try h.count("SELECT count(*) FROM outbox.intents WHERE last_error->>'error' = 'invalid_grant'") == 100)

            // The operator authorises the application again and stores the pair it got.
            let fresh = await h.simulator.authorizeAgain()
            let output = try await CLI.runDetached(
                ["portal", "set-tokens", "sim", "--token", "env:B24_ACCESS", "--refresh-token", "-",
                 "--token-expires-in", "\(fresh.expiresIn)", "--database-url", h.scratch.conninfo],
                environment: ["B24_ACCESS": fresh.accessToken], input: fresh.refreshToken + "\n",
                extraSecrets: [fresh.accessToken, fresh.refreshToken])
            #expect(output.status == 0, "\(output.stderr)")
            #expect(try storedPair(h) == [fresh.accessToken, fresh.refreshToken])
            #expect(try h.count("SELECT count(*) FROM outbox.token_refreshes") == 0)
            #expect(try logCount(h, "portal.tokens_set") == 1)

            _ = try IntentStore.replay(.init(errorCode: "invalid_grant"), by: "test", dryRun: false, on: h.db)
            // The same clients, never restarted, pick the stored pair up.
            async let again1: Void = DeliveryHarness.deliver(conninfo: asWorker, clients: clients[0], concurrency: 2, batch: 10)
            async let again2: Void = DeliveryHarness.deliver(conninfo: asWorker, clients: clients[1], concurrency: 2, batch: 10)
            _ = try await (again1, again2)
            #expect(try h.statusCounts() == ["delivered": 100])
            #expect(await h.simulator.snapshot().notifications.count == 100)
            #expect(try Verifier().verify(on: h.db).isConsistent)
            for c in clients { try await c.shutdown() }
            TestSecrets.expectAbsent([fresh.accessToken, fresh.refreshToken], in: try h.everythingButSecrets(), "the log or intents")
        }
    }

    @Test("a token whose expiry is known is refreshed ahead of it, once per expiry across two processes, and the portal never answers expired_token")
    func refreshedAheadOfTheExpiry() async throws {
        // 8 s tokens, refreshed 4 s ahead (calls wait for a new one in the last 2 s); the
        // portal's bucket (5/s) stretches 600 notifications in batches of 10 over about 12 s,
        // across several expiries.
        try await DeliveryHarness.with(oauth: true, knownExpiry: true, rateBucket: 5, rateDrain: 5, {
            $0.oauth.accessTokenLifetime = .seconds(8)
        }) { h in
            _ = try Producer.enqueue(notifications(h, 600, prefix: "a"), on: h.db)
            let conninfo = h.scratch.conninfo
            let started = ContinuousClock.now
            async let first: Void = DeliveryHarness.deliver(conninfo: conninfo, concurrency: 2, batch: 10)
            async let second: Void = DeliveryHarness.deliver(conninfo: conninfo, concurrency: 2, batch: 10)
            _ = try await (first, second)
            let elapsed = (ContinuousClock.now - started) / .milliseconds(1) / 1000

            #expect(try h.statusCounts() == ["delivered": 600])
            let state = await h.simulator.snapshot()
            #expect(state.rejected["expired_token", default: 0] == 0)
            #expect(state.refreshes >= 2, "the run outlived several tokens")
            // A token is refreshed 4 s into its life, once: no more refreshes than that allows.
            #expect(Double(state.refreshes) <= elapsed / 4 + 1, "\(state.refreshes) refreshes in \(elapsed) s")
            #expect(state.refreshErrors.isEmpty, "no process spent a refresh token another had spent")
            #expect(try logCount(h, "portal.tokens_refreshed") == state.refreshes)
            #expect(try h.count("SELECT max(attempts) FROM outbox.intents") == 1)
            let stored = try h.db.query("SELECT token_expires_at > now(), token_issued_at <= now() FROM outbox.portals WHERE name = 'sim'").first!
            #expect(try stored.decode(0, as: Bool.self))
            #expect(try stored.decode(1, as: Bool.self))
        }
    }

    @Test("a turn whose holder stopped mid-exchange is taken over once it ends, counted as unanswered, and the same refresh token tried")
    func aTurnLeftRunningIsTakenOver() async throws {
        try await DeliveryHarness.with(oauth: true) { h in
            // What a process killed during its exchange leaves behind: a running turn, now over.
            try h.db.execute("""
                INSERT INTO outbox.token_refreshes (portal_id, state, holder, until, spent)
                SELECT id, 'running', 'gone-host-1-x/1', now() - interval '1 second', outbox.token_sha(refresh_token)
                  FROM outbox.portals WHERE name = 'sim'
                """)
            _ = try Producer.enqueue(notifications(h, 30, prefix: "t"), on: h.db)
            await h.simulator.expireAccessTokens()
            let metrics = TestMetrics()
            try await h.deliver(concurrency: 2, batch: 10) { $0.metrics = OutboxMetrics(factory: metrics) }

            #expect(try h.statusCounts() == ["delivered": 30])
            #expect(await h.simulator.snapshot().refreshes == 1, "the stopped holder had not reached the server")
            #expect(try logCount(h, "portal.token_refresh_unanswered") == 1)
            #expect(try h.count("SELECT count(*) FROM outbox.log WHERE type = 'portal.tokens_refreshed' AND data->>'after_unanswered' = '1'") == 1)
            #expect(metrics.counterTotal(label: OutboxMetrics.Name.tokenRefreshes, dimensions: [("portal", "sim"), ("outcome", "unanswered")]) == 1)
            #expect(try h.count("SELECT count(*) FROM outbox.token_refreshes") == 0)
        }
    }

    @Test("set-tokens refuses what it cannot store, writes nothing then, and never prints a token")
    func setTokensRefusals() async throws {
        try await DeliveryHarness.with(oauth: true) { h in
            let before = try storedPair(h)
            let entries = try h.count("SELECT count(*) FROM outbox.log")
            let url = h.scratch.conninfo
            let cases: [(arguments: [String], environment: [String: String], says: String)] = [
                (["portal", "set-tokens", "nosuch", "--token", "a-secret-access", "--refresh-token", "a-secret-refresh"], [:],
                 "there is no portal named nosuch"),
                (["portal", "set-tokens", "sim", "--token", "env:B24_UNSET", "--refresh-token", "a-secret-refresh"], [:],
                 "the environment variable B24_UNSET is not set"),
                (["portal", "set-tokens", "sim", "--token", "a-secret-access", "--refresh-token", "env:B24_EMPTY"], ["B24_EMPTY": " "],
                 "is empty"),
                (["portal", "set-tokens", "sim", "--token", "a-secret-access", "--refresh-token", "a-secret-refresh",
                  "--token-expires-in", "0"], [:], "--token-expires-in must be between 1 and"),
            ]
            for item in cases {
                let output = try await CLI.runDetached(
                    item.arguments + ["--database-url", url], environment: item.environment,
                    extraSecrets: ["a-secret-access", "a-secret-refresh"])
                #expect(output.status != 0, "\(item.arguments)")
                #expect(output.stderr.contains(item.says), "\(item.arguments): \(output.stderr)")
            }
            try h.db.execute("""
                INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code)
                VALUES ('hook', 'https://hook.example.com', 'webhook', 1, 'code')
                """)
            let webhook = try await CLI.runDetached(
                ["portal", "set-tokens", "hook", "--token", "a-secret-access", "--refresh-token", "a-secret-refresh",
                 "--database-url", url], extraSecrets: ["a-secret-access", "a-secret-refresh"])
            #expect(webhook.status != 0)
            #expect(webhook.stderr.contains("uses a webhook"), "\(webhook.stderr)")
            #expect(try storedPair(h) == before)
            #expect(try h.count("SELECT count(*) FROM outbox.log") == entries)
        }
    }
}
