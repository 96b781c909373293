import Bitrix24Simulator
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// The `worker` command as operators run it: killed, restarted, stopped.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct WorkerProcessTests {
    static let fastLeases = ["--lease", "4", "--request-timeout", "2"]

    func waitFor(_ h: DeliveryHarness, delivered: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while try h.count("SELECT count(*) FROM outbox.intents WHERE status = 'delivered'") < delivered {
            guard ContinuousClock.now < deadline else { throw ScratchDatabaseError(description: "no progress") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func aWorkerKilledMidRunLosesNothingAndDuplicatesNothing() async throws {
        try await DeliveryHarness.with({ $0.latency = .milliseconds(30) }) { h in
            var intents = (0..<1500).map { i in
                NewIntent.notification(portal: h.portal, user: Int64(i % 700 + 1), message: "n\(i)", key: "n\(i)")
            }
            intents += (0..<30).map { NewIntent.chat(portal: h.portal, fields: ["TITLE": .string("c\($0)")], key: "c\($0)") }
            _ = try Producer.enqueue(intents, on: h.db)

            let first = try CLI.spawn(["worker", "--database-url", h.scratch.conninfo, "--concurrency", "4", "--batch", "10"] + Self.fastLeases)
            try await waitFor(h, delivered: 300)
            first.signal(SIGKILL)
            _ = await first.finish()
            let stranded = try h.count("SELECT count(*) FROM outbox.intents WHERE status = 'claimed'")

            let second = try CLI.spawn(["worker", "--database-url", h.scratch.conninfo, "--until-idle", "--batch", "10"] + Self.fastLeases)
            let output = await second.finish()
            #expect(output.status == 0, "\(output.stderr)")

            #expect(try h.statusCounts() == ["delivered": 1530])
            // Claims the killed worker held came back through lease expiry.
            #expect(try h.count("SELECT count(*) FROM outbox.log WHERE type = 'intent.lease_expired'") >= stranded)
            let state = await h.simulator.snapshot()
            let visible = Dictionary(grouping: state.notifications, by: { "\($0.userID)|\($0.tag ?? "")" })
            #expect(visible.count == 1500 && visible.values.allSatisfy { $0.count == 1 })
            #expect(state.effects.chatsCreated == 30)
            #expect(try Verifier().verify(on: h.db).isConsistent)
        }
    }

    @Test func sigtermFinishesInFlightWorkReleasesTheRestAndExitsZero() async throws {
        try await DeliveryHarness.with({ $0.latency = .milliseconds(50) }) { h in
            _ = try Producer.enqueue((0..<2000).map {
                NewIntent.notification(portal: h.portal, user: Int64($0 % 900 + 1), message: "t\($0)", key: "t\($0)")
            }, on: h.db)
            let worker = try CLI.spawn(["worker", "--database-url", h.scratch.conninfo, "--batch", "5"] + Self.fastLeases)
            try await waitFor(h, delivered: 50)
            worker.signal(SIGTERM)
            let output = await worker.finish(timeout: .seconds(30))
            #expect(output.status == 0, "\(output.stderr)")
            // Nothing is left claimed: each intent was delivered or handed back.
            #expect(try h.count("SELECT count(*) FROM outbox.intents WHERE status = 'claimed'") == 0)
            #expect(try h.count("SELECT count(*) FROM outbox.intents WHERE status = 'pending'") > 0)
            #expect(try Verifier().verify(on: h.db).isConsistent)
        }
    }
}
