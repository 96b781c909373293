import Bitrix24
import Bitrix24Simulator
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("events pull: the offline queue, lossless", .enabled(if: TestEnvironment.hasDatabase))
struct OfflineEventPullTests {
    func storedOffline(_ h: DeliveryHarness) throws -> (entries: Int, distinct: Int) {
        let row = try h.db.query("""
            SELECT count(*), count(DISTINCT data->>'offline_id') FROM outbox.log
             WHERE type = 'bitrix.event' AND data->>'source' = 'offline'
            """).first!
        return (try row.decode(0), try row.decode(1))
    }

    @Test("every offline event is stored exactly once even when the puller is killed between storing and clearing")
    func killedBetweenStoreAndClear() async throws {
        try await DeliveryHarness.with(oauth: true) { h in
            for session in 1...120 {
                _ = await h.simulator.queueOfflineDialogFinish(chatID: 8, sessionID: Int64(session))
            }
            await h.simulator.holdCalls(to: "event.offline.clear")
            let puller = try CLI.spawn(["events", "pull", "--portal", h.portal, "--database-url", h.scratch.conninfo])
            // The clear is asked for only after the page is committed: then the process dies.
            let deadline = ContinuousClock.now + .seconds(60)
            while await h.simulator.heldCallCount(for: "event.offline.clear") == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(await h.simulator.heldCallCount(for: "event.offline.clear") == 1)
            #expect(try storedOffline(h).entries == 50, "the first page is stored before its clear")
            puller.signal(SIGKILL)
            #expect(await puller.finish(timeout: .seconds(10)).status != 0)
            await h.simulator.dropHeldCalls()
            #expect(await h.simulator.offlineEvents().count == 120, "nothing was cleared")

            let rerun = try await CLI.runDetached(["events", "pull", "--portal", h.portal, "--json", "--database-url", h.scratch.conninfo])
            #expect(rerun.status == 0, "\(rerun.stderr)")
            let report = try JSONDecoder().decode(OfflineEventPuller.Report.self, from: Data(rerun.stdout.utf8))
            #expect(report.recovered == 50)
            #expect(report.duplicates == 50)
            #expect(report.stored == 70)
            #expect(report.cleared == 120)
            let stored = try storedOffline(h)
            #expect(stored.entries == 120)
            #expect(stored.distinct == 120)
            #expect(await h.simulator.offlineEvents().isEmpty, "the queue is empty")
            TestSecrets.expectAbsent(TestSecrets.known, in: try h.everythingButSecrets(), "the log")
        }
    }

    @Test("events reserved by a run that died before storing them are found, stored and cleared")
    func reservedButNeverStored() async throws {
        try await DeliveryHarness.with(oauth: true) { h in
            for session in 1...7 {
                _ = await h.simulator.queueOfflineEvent(name: "ONCRMLEADADD", data: ["FIELDS": ["ID": .int(Int64(session))]])
            }
            let client = PortalClients(conninfo: h.scratch.conninfo, logger: .init(label: "test"))
            defer { try? client.shutdown() }
            let portalID = try PortalStore.portal(named: h.portal, on: h.db)!.id
            // A puller reserved these, then vanished before writing anything.
            let reserved = try await client.client(forPortal: portalID, on: h.db).reserveOfflineEvents(limit: 5)
            #expect(reserved.events.count == 5)

            let executor = DatabaseExecutor(conninfo: h.scratch.conninfo)
            defer { executor.shutdown() }
            let report = try await OfflineEventPuller(
                client: try client.client(forPortal: portalID, on: h.db), portalID: portalID, database: executor).pull()
            #expect(report.recovered == 5)
            #expect(report.reserved == 2)
            #expect(report.stored == 7)
            #expect(report.duplicates == 0)
            #expect(try storedOffline(h).entries == 7)
            #expect(await h.simulator.offlineEvents().isEmpty)
            // Running again finds nothing and stores nothing.
            let again = try await OfflineEventPuller(
                client: try client.client(forPortal: portalID, on: h.db), portalID: portalID, database: executor).pull()
            #expect(again == OfflineEventPuller.Report())
        }
    }

    @Test("a pulled dialog-finish event is linked to the chat intent that created the chat")
    func pulledDialogLinks() async throws {
        try await DeliveryHarness.with(oauth: true) { h in
            let intent = try Producer.enqueue(.chat(portal: h.portal, fields: ["TITLE": "Ticket 9"], key: "ticket-9"), on: h.db)
            try await h.deliver()
            let chatID: Int64 = try h.db.query("SELECT result_id FROM outbox.intents WHERE id = $1", [intent]).first!.decode(0)
            _ = await h.simulator.queueOfflineDialogFinish(chatID: chatID, sessionID: 55)
            let output = try await CLI.runDetached(["events", "pull", "--portal", h.portal, "--database-url", h.scratch.conninfo])
            #expect(output.status == 0, "\(output.stderr)")
            #expect(output.stdout.contains("stored 1"), "\(output.stdout)")
            #expect(try h.count(
                "SELECT count(*) FROM outbox.log WHERE intent_id = $1 AND type = 'chat.dialog_finished'", [intent]) == 1)
            #expect(try Verifier().verify(on: h.db).isConsistent)
        }
    }

    @Test("a webhook portal is refused with the reason, and nothing is written")
    func webhookRefused() async throws {
        try await DeliveryHarness.with(oauth: false) { h in
            let before = try h.count("SELECT count(*) FROM outbox.log")
            let output = try await CLI.runDetached(["events", "pull", "--portal", h.portal, "--database-url", h.scratch.conninfo])
            #expect(output.status != 0)
            #expect(output.stderr.contains("OAuth"), "\(output.stderr)")
            #expect(try h.count("SELECT count(*) FROM outbox.log") == before)
        }
    }
}
