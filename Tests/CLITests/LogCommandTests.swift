import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox
import Postgres
import TestSupport
import Testing

/// `b24outbox log` as a person and as a script read it.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct LogCommandTests {
    /// Intents to user 10 in every state (delivered, retrying, a chat, not tried yet) and a dead
    /// one to user 11, with the entries a worker would write.
    static func history(_ db: Connection) throws -> (delivered: Int64, retrying: Int64, chat: Int64, dead: Int64, waiting: Int64) {
        let ids = try Producer.enqueue([
            .notification(portal: "main", user: 10, message: "Hello", tag: "greeting"),
            .notification(portal: "main", user: 10, message: "Your invoice", system: true),
            .chat(portal: "main", fields: ["TYPE": "OPEN", "TITLE": "Deal 7", "USERS": [1, 10]]),
            .notification(portal: "main", user: 11, message: "Nobody"),
        ], on: db)
        let store = IntentStore(owner: "w1")
        let claimed = Dictionary(uniqueKeysWithValues: try store.claim(limit: 10, lease: .seconds(60), on: db).map { ($0.id, $0) })
        #expect(claimed.count == 4)
        let succeeded: JSONValue = ["method": "im.notify.personal.add", "http_status": 200, "duration_ms": 308.0, "batch_size": 3]
        try store.finish([
            (claimed[ids[0]]!, .delivered(resultID: 101251, details: succeeded)),
            (claimed[ids[1]]!, .retry(after: .seconds(60), details: [
                "method": "im.notify.system.add", "error": "INVALID_RESPONSE", "class": "ambiguous", "http_status": 502,
            ])),
            (claimed[ids[2]]!, .delivered(resultID: 1001, details: ["method": "im.chat.add", "http_status": 200, "batch_size": 3])),
            (claimed[ids[3]]!, .dead(details: [
                "method": "im.notify.personal.add", "error": "RESULT_FALSE", "class": "permanent",
                "error_description": "im.notify.personal.add answered false: the recipient does not exist or is inactive",
            ])),
        ], on: db)
        let waiting = try Producer.enqueue(.notification(portal: "main", user: 10, message: "Later"), on: db)
        return (ids[0], ids[1], ids[2], ids[3], waiting)
    }

    static func lines(_ output: CLI.Output) -> [String] {
        output.stdout.split(separator: "\n").map(String.init)
    }

    static func matches(_ line: String, _ pattern: String) -> Bool {
        (try? Regex(pattern).wholeMatch(in: line)) != nil
    }

    static let time = #"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z"#

    @Test("log --intent N --format human prints the intent's timeline")
    func oneIntentsTimeline() throws {
        let (scratch, db) = try migratedDatabase()
        let intents = try Self.history(db)
        let output = try CLI.run(["log", "--intent", "\(intents.delivered)", "--format", "human", "--database-url", scratch.conninfo])
        #expect(output.status == 0, "\(output.stderr)")
        let lines = Self.lines(output)
        #expect(lines.count == 4, "\(output.stdout)")
        guard lines.count == 4 else { return }
        #expect(Self.matches(lines[0], "intent \(intents.delivered) on portal main, from \(Self.time)"), "\(lines[0])")
        #expect(lines[1] == #"+0.000 s    intent.enqueued       notify.personal to user 10: "Hello""#)
        #expect(Self.matches(lines[2], #"\+\d+\.\d{3} s +intent\.claimed +attempt 1 by worker w1"#), "\(lines[2])")
        #expect(Self.matches(lines[3], #"\+\d+\.\d{3} s +delivery\.succeeded +im\.notify\.personal\.add → 101251, HTTP 200, 308 ms, batch of 3"#),
                "\(lines[3])")
        // The key finds the same intent, and the same lines.
        let key: String = try db.query("SELECT idempotency_key FROM outbox.intents WHERE id = $1", [intents.delivered]).first!.decode(0)
        #expect(try CLI.run(["log", "--key", key, "--format", "human", "--database-url", scratch.conninfo]).stdout == output.stdout)
    }

    @Test("log --user U --format human prints one line per intent: kind, recipient, status, Bitrix24's last answer")
    func oneLinePerIntent() throws {
        let (scratch, db) = try migratedDatabase()
        let intents = try Self.history(db)
        func run(_ arguments: [String]) throws -> CLI.Output {
            try CLI.run(["log"] + arguments + ["--database-url", scratch.conninfo])
        }
        let output = try run(["--user", "10", "--format", "human"])
        #expect(output.status == 0, "\(output.stderr)")
        let lines = Self.lines(output)
        #expect(lines.count == 4, "one line for each of user 10's intents: \(output.stdout)")
        for (id, rest) in [
            (intents.delivered, "notify.personal +user 10 +delivered +delivery\\.succeeded → 101251"),
            (intents.retrying, "notify.system +user 10 +pending +delivery\\.failed INVALID_RESPONSE"),
            (intents.chat, "chat.create +users 1, 10 +delivered +delivery\\.succeeded → 1001"),
            (intents.waiting, "notify.personal +user 10 +pending +no answer yet"),
        ] {
            let pattern = "\(Self.time)  intent \(id) +\(rest)"
            #expect(lines.filter { Self.matches($0, pattern) }.count == 1, "\(pattern) in\n\(output.stdout)")
        }
        #expect(lines.last?.contains("intent \(intents.waiting) ") == true, "in the order of their latest entries")
        #expect(!output.stdout.contains("intent \(intents.dead) "), "user 11's intent is not user 10's")

        let byTag = Self.lines(try run(["--tag", "greeting", "--format", "human"]))
        #expect(byTag.count == 1 && byTag.first?.contains("intent \(intents.delivered) ") == true, "\(byTag)")
        let byPortal = Self.lines(try run(["--portal", "main", "--format", "human"]))
        #expect(byPortal.count == 5)
        #expect(byPortal.contains { Self.matches($0, "\(Self.time)  intent \(intents.dead) +notify.personal +user 11 +dead +intent\\.dead RESULT_FALSE") })
        #expect(Self.lines(try run(["--portal", "main", "--format", "human", "--limit", "2"])).count == 2, "--limit counts intents")

        // --entries: every entry, each with its time and stream.
        let entries = Self.lines(try run(["--user", "10", "--format", "human", "--entries"]))
        #expect(entries.count == 10, "\(entries)")
        #expect(entries.allSatisfy { Self.matches($0, "\(Self.time)  intent-\\d+ +[a-z_.]+ +.+") }, "\(entries)")
        #expect(entries.contains { $0.contains("delivery.failed       INVALID_RESPONSE (ambiguous, HTTP 502), next attempt in") })

        // Into a pipe, as before: plain tab-separated lines, and --json is --format json.
        let plain = try run(["--user", "10"])
        #expect(Self.lines(plain).count == 10)
        #expect(Self.lines(plain).allSatisfy { $0.split(separator: "\t", omittingEmptySubsequences: false).count == 5 })
        #expect(try run(["--user", "10", "--format", "plain"]).stdout == plain.stdout)
        #expect(try run(["--user", "10", "--format", "json"]).stdout == run(["--user", "10", "--json"]).stdout)
        let both = try run(["--user", "10", "--json", "--format", "human"])
        #expect(both.status == 64)
        #expect(both.stderr.contains("--json and --format human disagree"))
        #expect(try run(["--user", "12345", "--format", "human"]).stdout == "no intents match (--entries shows every entry)\n")
    }
}
