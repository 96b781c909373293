import Foundation
import Postgres
import Testing
import TestSupport

/// `b24outbox demo`, run as the README's first command runs it.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct DemoCommandTests {
    @Test("the issue's mix: delivered, the dead reported with Bitrix24's code, one replayed, verify ok, no secret shown")
    func theDefaultMixRunsEndToEnd() async throws {
        let scratch = try ScratchDatabase()
        // The default mix; more faults than the default so retries are certain.
        let output = try await CLI.runDetached(["demo", "--database-url", scratch.conninfo, "--fault-rate", "0.3"])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")

        let db = try scratch.connect()
        let portal = try #require(try db.query("SELECT name, webhook_code, application_token FROM outbox.portals").first)
        let (name, webhookCode, applicationToken): (String, String, String) =
            (try portal.decode(0), try portal.decode(1), try portal.decode(2))
        TestSecrets.expectAbsent([webhookCode, applicationToken], in: output.stdout + output.stderr, "the demo's output")
        #expect(!output.stdout.contains("/rest/1/"), "no webhook URL is shown")

        var byStatus: [String: Int] = [:]
        for row in try db.query("SELECT status, count(*) FROM outbox.intents GROUP BY status") {
            byStatus[try row.decode(0)] = try row.decode(1)
        }
        // 1,000 notifications (5 to unknown users) and 20 chats; one dead intent was replayed.
        #expect(byStatus == ["delivered": 1016, "dead": 4])
        #expect(try count(db, "SELECT count(*) FROM outbox.log WHERE type = 'delivery.failed'") > 0, "some intents needed retries")
        #expect(try count(db, "SELECT count(*) FROM outbox.intents WHERE status = 'dead' AND last_error->>'error' = 'RESULT_FALSE'") == 4)
        #expect(try count(db, """
            SELECT count(*) FROM outbox.intents i JOIN outbox.log l ON l.intent_id = i.id AND l.type = 'intent.replayed'
             WHERE i.status = 'delivered' AND i.payload->>'USER_ID' = '4001'
            """) == 1, "the replayed intent was delivered")
        #expect(try count(db, "SELECT count(*) FROM outbox.log WHERE type = 'chat.dialog_finished'") == 20)
        #expect(try count(db, "SELECT count(*) FROM outbox.log WHERE type = 'bitrix.event'") == 20, "the forged event is not stored")

        for expected in [
            "portal \(name)", "[5/11] Delivery", "failed at least once and were retried", "RESULT_FALSE", "intent.replayed",
            "b24outbox verify: ok: 1,020 intents", "996 delivered notification intents and 20 chats", "Done in",
        ] {
            #expect(output.stdout.contains(expected), "the output shows \(expected)")
        }
        for user in 4001...4005 { #expect(output.stdout.contains("to user \(user): RESULT_FALSE")) }
    }

    @Test("without a database it runs its own PostgreSQL, and deletes it at the end")
    func aThrowAwayClusterIsRemoved() async throws {
        let output = try await CLI.runDetached(
            ["demo", "--notifications", "60", "--chats", "3", "--unknown-users", "2"], environment: ["DATABASE_URL": ""])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        let folder = try #require(Self.folder(in: output.stdout))
        #expect(!FileManager.default.fileExists(atPath: folder), "the cluster's folder is gone")
        #expect(output.stdout.contains("b24outbox verify: ok: 63 intents"))
        #expect(output.stdout.contains("deleted \(folder)"))
    }

    @Test("SIGINT stops it, cleans up and exits 130")
    func anInterruptedDemoCleansUp() async throws {
        let demo = try CLI.spawn(["demo", "--notifications", "5000", "--fault-rate", "0.5"], environment: ["DATABASE_URL": ""])
        try await Task.sleep(for: .seconds(6))
        demo.signal(SIGINT)
        let output = await demo.finish(timeout: .seconds(60))
        #expect(output.status == 130, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.contains("Interrupted: stopped everything and cleaned up."))
        if let folder = Self.folder(in: output.stdout) {
            #expect(!FileManager.default.fileExists(atPath: folder), "the cluster's folder is gone")
        }
    }

    @Test("bad options are refused before anything starts")
    func badOptionsAreRefused() throws {
        let output = try CLI.run(["demo", "--fault-rate", "2"], environment: ["DATABASE_URL": ""])
        #expect(output.status == 64)
        #expect(output.stderr.contains("--fault-rate must be between 0 and 0.9"))
        #expect(!output.stdout.contains("[1/11]"))
    }

    /// The throw-away cluster's folder, as the demo names it.
    static func folder(in output: String) -> String? {
        guard let range = output.range(of: #"/[^ ]*b24outbox-demo\.[A-Za-z0-9]+"#, options: .regularExpression) else { return nil }
        return String(output[range])
    }

    func count(_ db: Connection, _ sql: String) throws -> Int {
        try db.query(sql).first!.decode(0)
    }
}
