import Bitrix24
import Bitrix24Simulator
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// The operator's path end to end through the binary: portal, enqueue, worker, audit.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct CommandLineTests {
    @Test func portalEnqueueDeliverAndAudit() async throws {
        let simulator = try await Simulator.start({ var c = Simulator.Configuration(); c.rateLimit = nil; c.users = UserSet(1...50); return c }())
        defer { Task { await simulator.stop() } }
        let scratch = try ScratchDatabase()
        let db = scratch.conninfo
        // Waits off the concurrency pool: the worker run below talks to the in-process simulator.
        func run(_ arguments: [String]) async throws -> CLI.Output {
            try await CLI.runDetached(arguments + ["--database-url", db])
        }
        #expect(try await run(["migrate"]).status == 0)

        // A webhook portal; the code never shows again.
        let added = try await run(["portal", "add", "main", "--url", simulator.webhookURL.absoluteString, "--allow-http",
                             "--app-token", "app-secret-token", "--member-id", "m-1"])
        #expect(added.status == 0, "\(added.stderr)")
        let listed = try await run(["portal", "list", "--json"])
        #expect(listed.stdout.contains("\"name\" : \"main\""))
        TestSecrets.expectAbsent(["app-secret-token"], in: listed.stdout, "portal list")
        #expect(listed.stdout.contains("\"state\" : \"active\""))
        // Pause and resume: each says what it did, a second pause writes nothing, an unknown portal is an error.
        #expect(try await run(["portal", "pause", "main"]).stdout == "paused portal main\n")
        #expect(try await run(["portal", "list"]).stdout.hasSuffix("\tpaused\n"))
        #expect(try await run(["portal", "pause", "main"]).stdout == "portal main is paused already\n")
        let unknown = try await run(["portal", "pause", "nowhere"])
        #expect(unknown.status != 0 && unknown.stderr.contains("there is no portal named nowhere"), "\(unknown.stderr)")
        #expect(try await run(["portal", "resume", "main"]).stdout == "resumed portal main\n")
        #expect(try Connection(db).query(
            "SELECT count(*) FROM outbox.log WHERE type IN ('portal.paused', 'portal.resumed')").first!.decode(0, as: Int.self) == 2)
        // http:// is refused unless asked for.
        let insecure = try await run(["portal", "add", "other", "--url", simulator.webhookURL.absoluteString])
        #expect(insecure.status != 0)
        #expect(insecure.stderr.contains("--allow-http"))

        // Enqueue: ids back, the same key gives the same id, bad input writes nothing.
        let notify = try await run(["enqueue", "notify", "--portal", "main", "--user", "10", "--text", "Hello",
                              "--tag", "greeting", "--key", "hello-10", "--json"])
        #expect(notify.status == 0, "\(notify.stderr)")
        let id = try JSONDecoder().decode([String: Int64].self, from: Data(notify.stdout.utf8))["id"]!
        #expect(try await run(["enqueue", "notify", "--portal", "main", "--user", "10", "--text", "Hello", "--key", "hello-10"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines) == String(id))
        let blocks = FileManager.default.temporaryDirectory.appendingPathComponent("blocks-\(UUID()).json")
        try Data(#"[{"MESSAGE": "Order 7"}, {"LINK": {"NAME": "Open", "LINK": "https://example.com/7"}}]"#.utf8).write(to: blocks)
        #expect(try await run(["enqueue", "system", "--portal", "main", "--user", "11", "--text", "With blocks", "--blocks", "@\(blocks.path)"]).status == 0)
        #expect(try await run(["enqueue", "chat", "--portal", "main", "--fields", #"{"TYPE":"OPEN","TITLE":"Deal 7","USERS":[1,10]}"#, "--key", "deal-7"]).status == 0)
        #expect(try await run(["enqueue", "notify", "--portal", "main", "--user", "999", "--text", "Nobody"]).status == 0)

        let before = try Connection(db).query("SELECT (SELECT count(*) FROM outbox.intents), (SELECT count(*) FROM outbox.log)").first!.text(0)
        for bad in [
            ["enqueue", "notify", "--portal", "main", "--user", "-3", "--text", "x"],
            ["enqueue", "notify", "--portal", "main", "--user", "1", "--text", "  "],
            ["enqueue", "notify", "--portal", "nowhere", "--user", "1", "--text", "x"],
            ["enqueue", "notify", "--portal", "main", "--user", "1", "--text", "x", "--blocks", #"[{"VIDEO": {}}]"#],
            ["enqueue", "notify", "--portal", "main", "--user", "1", "--text", "x", "--blocks", "{not json"],
            ["enqueue", "chat", "--portal", "main", "--fields", #"{"COLOR": "BLACK"}"#],
            ["enqueue", "notify", "--portal", "main", "--user", "1", "--text", "x", "--at", "tomorrow"],
        ] {
            let output = try await run(bad)
            #expect(output.status != 0, "\(bad)")
            #expect(output.stderr.contains("Error"), "\(bad): \(output.stderr)")
        }
        #expect(try Connection(db).query("SELECT (SELECT count(*) FROM outbox.intents), (SELECT count(*) FROM outbox.log)").first!.text(0) == before)

        // Deliver, then audit.
        let worker = try await run(["worker", "--until-idle", "--concurrency", "2"])
        #expect(worker.status == 0, "\(worker.stderr)")
        let timeline = try await run(["log", "--intent", String(id)])
        #expect(timeline.stdout.contains("intent.enqueued"))
        #expect(timeline.stdout.contains("delivery.succeeded"))
        let toUser = try await run(["log", "--user", "10", "--type", "delivery", "--json"])
        let entries = try JSONSerialization.jsonObject(with: Data(toUser.stdout.utf8)) as! [[String: Any]]
        #expect(entries.count == 2)  // the notification and the chat that includes user 10
        let byTag = try await run(["log", "--tag", "greeting", "--json"])
        #expect(byTag.stdout.contains("\"intentID\" : \(id)"))

        let stats = try await run(["stats", "--json"])
        #expect(stats.stdout.contains("RESULT_FALSE"))
        let verify = try await run(["verify"])
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("ok:"))

        // The dead one: replay dry run lists it; cancel takes it out.
        let dry = try await run(["replay", "--error", "RESULT_FALSE", "--dry-run"])
        #expect(dry.stdout.contains("would replay 1 intents"))
        let deadID = try Connection(db).query("SELECT id FROM outbox.intents WHERE status = 'dead'").first!.decode(0, as: Int64.self)
        #expect(try await run(["cancel", String(deadID)]).stdout.contains("cancelled \(deadID)"))
        let again = try await run(["cancel", String(id)])
        #expect(again.status == 1)
        #expect(again.stdout.contains("not cancelled \(id)"))
        #expect(try await run(["verify"]).status == 0)

        // A portal with intents stays.
        #expect(try await run(["portal", "remove", "main"]).stderr.contains("has 4 intents"))
    }
}
