import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// The worker pool against faults it cannot prevent: the portal's, the database refusing one
/// record, two processes with the same name, and operators replaying while it delivers.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"), .timeLimit(.minutes(3)))
struct WorkerRobustnessTests {
    @Test("chats with explicit entity pairs and notifications through faults and replays mid-run: one chat per pair, one notification per (user, TAG)")
    func faultsAndReplaysKeepOneEffectEach() async throws {
        try await DeliveryHarness.with({
            $0.faults.failBefore = 0.10
            $0.faults.failAfter = 0.10
            $0.faults.dropAfter = 0.05
            $0.faults.seed = 77
            $0.latency = .milliseconds(2)
        }) { h in
            var intents: [NewIntent] = []
            for i in 0..<400 {
                let tag: String? = i % 3 == 0 ? "order-\(i)" : nil
                intents.append(.notification(portal: h.portal, user: Int64(i % 150 + 1), message: "Order \(i)", tag: tag, key: "order-\(i)"))
            }
            intents += (0..<60).map { i in
                NewIntent.chat(portal: h.portal, fields: [
                    "TITLE": .string("Deal \(i)"), "ENTITY_TYPE": "SHOP_DEAL", "ENTITY_ID": .string("d\(i)"), "USERS": [2],
                ], key: "deal-\(i)")
            }
            intents += (0..<20).map { i in NewIntent.chat(portal: h.portal, fields: ["TITLE": .string("Team \(i)")], key: "team-\(i)") }
            _ = try Producer.enqueue(intents, on: h.db)

            // While the pool delivers, an operator replays everything delivered so far, twice.
            let conninfo = h.scratch.conninfo
            let operatorTask = Task {
                let db = try Connection(conninfo)
                var replayed = 0
                for threshold in [120, 300] {
                    while try db.query("SELECT count(*) FROM outbox.intents WHERE status = 'delivered'").first!.decode(0, as: Int.self) < threshold {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    replayed += try IntentStore.replay(.init(statuses: [.delivered]), by: "test", dryRun: false, on: db).count
                }
                return replayed
            }
            try await h.deliver(concurrency: 4, batch: 10)
            let replayed = try await operatorTask.value
            try await h.deliver(concurrency: 4, batch: 10)

            #expect(replayed >= 300)
            #expect(try h.statusCounts() == ["delivered": 480])
            try await h.expectOneEffectEach(notifications: 400, chats: 80)
        }
    }

    @Test("an outcome the database refuses does not hold back its claim: the rest is recorded, and it is recorded without the refused details")
    func aRefusedRecordIsKeptApart() async throws {
        try await DeliveryHarness.with { h in
            let ids = try Producer.enqueue((0..<10).map {
                .notification(portal: h.portal, user: Int64($0 + 1), message: "m\($0)", key: "k\($0)")
            }, on: h.db)
            let refused = ids[4]
            // A rule of the database that this one answer's details break (as a value it cannot
            // store would): the claim's record, and that outcome's full record, are refused.
            try h.db.execute("""
                CREATE FUNCTION public.refuse_one_result() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.intent_id = \(refused) AND NEW.type = 'delivery.succeeded' AND NEW.data ? 'result' THEN
                        RAISE EXCEPTION 'this result cannot be stored' USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NEW;
                END $$
                """)
            try h.db.execute("CREATE TRIGGER refuse_one_result BEFORE INSERT ON outbox.log FOR EACH ROW EXECUTE FUNCTION public.refuse_one_result()")
            try await h.deliver(concurrency: 1) { $0.lease = .seconds(30) }

            #expect(try h.statusCounts() == ["delivered": 10])
            #expect(try h.count("SELECT max(attempts) FROM outbox.intents") == 1, "nothing waited for a lease to expire")
            #expect(try h.count("SELECT count(*) FROM outbox.log WHERE type = 'intent.lease_expired'") == 0)
            let entry = try #require(try AuditLog.entries({ var f = AuditLog.Filter(); f.intentID = refused; f.type = "delivery.succeeded"; return f }(), on: h.db).first)
            #expect(entry.data["details_refused"]?.stringValue?.contains("23514") == true)
            #expect(entry.data["method"] == "im.notify.personal.add")
            #expect(entry.data["result"] == nil)
            #expect(try h.db.query("SELECT result_id IS NOT NULL FROM outbox.intents WHERE id = $1", [refused]).first!.decode(0, as: Bool.self))
            #expect(await h.simulator.snapshot().notifications.count == 10)
            #expect(try Verifier().verify(on: h.db).isConsistent)
        }
    }

    @Test("two pools given the same name (two containers, both PID 1) hold leases under different owners")
    func leaseOwnersDifferAcrossPools() async throws {
        try await DeliveryHarness.with({ $0.latency = .milliseconds(5) }) { h in
            _ = try Producer.enqueue((0..<300).map {
                .notification(portal: h.portal, user: Int64($0 % 100 + 1), message: "s\($0)", key: "s\($0)")
            }, on: h.db)
            let conninfo = h.scratch.conninfo
            // Calls wait at the portal until both pools hold a claim, so both are seen claiming.
            await h.simulator.holdCalls(to: "batch")
            async let first: Void = DeliveryHarness.deliver(conninfo: conninfo, concurrency: 2, batch: 10) { $0.name = "app-1" }
            async let second: Void = DeliveryHarness.deliver(conninfo: conninfo, concurrency: 2, batch: 10) { $0.name = "app-1" }
            while try h.count("SELECT count(DISTINCT split_part(lease_owner, '/', 1)) FROM outbox.intents WHERE status = 'claimed'") < 2 {
                try await Task.sleep(for: .milliseconds(10))
            }
            await h.simulator.releaseHeldCalls()
            _ = try await (first, second)

            #expect(try h.statusCounts() == ["delivered": 300])
            let owners = try h.db.query("SELECT DISTINCT data->>'worker' FROM outbox.log WHERE type = 'intent.claimed'")
                .map { try $0.decode(0, as: String.self) }
            #expect(owners.allSatisfy { $0.hasPrefix("app-1-") })
            let pools = Set(owners.map { $0.split(separator: "/").first! })
            #expect(pools.count == 2, "\(owners)")
        }
    }
}
