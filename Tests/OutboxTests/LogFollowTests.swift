import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("log --follow", .enabled(if: TestEnvironment.hasDatabase))
struct LogFollowTests {
    static func enqueue(_ user: Int64, on db: Connection) throws {
        _ = try Producer.enqueue(.notification(portal: "main", user: user, message: "hello \(user)"), on: db)
    }

    static func allSeqs(_ db: Connection) throws -> [Int64] {
        try db.query("SELECT seq FROM outbox.log ORDER BY seq").map { try $0.decode(0) }
    }

    @Test("an entry committed after later ones is read when it commits, every entry exactly once, and a rolled-back number settles")
    func outOfOrderCommits() async throws {
        let (scratch, db) = try migratedDatabase()
        let long = try scratch.connect()
        var follower = AuditLog.Follower(filter: .init())
        follower.settleDelay = .milliseconds(100)
        var read = try follower.poll(on: db).map(\.seq)

        // A producer's long transaction draws its seq first and commits last.
        try long.execute("BEGIN")
        try Self.enqueue(1, on: long)
        let held: Int64 = try long.query("SELECT max(seq) FROM outbox.log").first!.decode(0)
        try Self.enqueue(2, on: db)
        try Self.enqueue(3, on: db)
        let ahead = try follower.poll(on: db).map(\.seq)
        read += ahead
        #expect(ahead.count == 2 && ahead.allSatisfy { $0 > held }, "\(ahead), held \(held)")
        #expect(follower.openGaps == 1)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try follower.poll(on: db).isEmpty)
        #expect(follower.openGaps == 1, "a gap stays open while the transaction that may fill it runs")
        #expect(follower.settled < held)

        try long.execute("COMMIT")
        let late = try follower.poll(on: db)
        #expect(late.map(\.seq) == [held], "the late entry is read once it commits")
        #expect(late.first?.type == "intent.enqueued")
        read += late.map(\.seq)

        // A rolled-back number never appears: its gap settles once nothing could still fill it.
        try long.execute("BEGIN")
        try Self.enqueue(4, on: long)
        try long.execute("ROLLBACK")
        try Self.enqueue(5, on: db)
        read += try follower.poll(on: db).map(\.seq)
        // Transaction ids are the cluster's: a transaction of another database on the server
        // holds the horizon back until it ends, so wait for the gap (a minute at most).
        let deadline = ContinuousClock.now + .seconds(60)
        repeat {
            try await Task.sleep(for: .milliseconds(200))
            read += try follower.poll(on: db).map(\.seq)
        } while follower.openGaps > 0 && ContinuousClock.now < deadline
        #expect(follower.openGaps == 0)
        let all = try Self.allSeqs(db)
        #expect(follower.settled == all.last)
        #expect(Set(read).count == read.count, "no entry twice: \(read)")
        #expect(read.sorted() == all, "every entry once: read \(read), in the log \(all)")
    }

    @Test("a late entry whose transaction got its id after the one that committed first is still read")
    func laterTransactionID() async throws {
        let (scratch, db) = try migratedDatabase()
        let first = try scratch.connect(), late = try scratch.connect()
        var follower = AuditLog.Follower(filter: .init())
        follower.settleDelay = .milliseconds(50)
        var read = try follower.poll(on: db).map(\.seq)
        // `first` has the older transaction id, `late` the newer; `late` draws its seq first and
        // commits last.
        try first.execute("BEGIN")
        _ = try first.query("SELECT pg_current_xact_id()")
        try late.execute("BEGIN")
        try Self.enqueue(1, on: late)
        try Self.enqueue(2, on: first)
        try first.execute("COMMIT")
        read += try follower.poll(on: db).map(\.seq)
        for _ in 0..<3 {
            try await Task.sleep(for: .milliseconds(100))
            read += try follower.poll(on: db).map(\.seq)
        }
        #expect(follower.openGaps == 1, "the gap stays open while the later transaction runs")
        try late.execute("COMMIT")
        read += try follower.poll(on: db).map(\.seq)
        #expect(read.sorted() == (try Self.allSeqs(db)), "every entry once: \(read)")
        #expect(Set(read).count == read.count)
    }

    @Test("with a filter, only matching entries are read, late ones included")
    func filtered() throws {
        let (scratch, db) = try migratedDatabase(portals: ["main", "other"])
        let long = try scratch.connect()
        var filter = AuditLog.Filter()
        filter.portal = "main"
        var follower = AuditLog.Follower(filter: filter)
        follower.settleDelay = .milliseconds(50)
        _ = try follower.poll(on: db)
        try long.execute("BEGIN")
        try Self.enqueue(1, on: long)
        _ = try Producer.enqueue(.notification(portal: "other", user: 2, message: "elsewhere"), on: db)
        #expect(try follower.poll(on: db).isEmpty)
        try long.execute("COMMIT")
        let late = try follower.poll(on: db)
        #expect(late.count == 1 && late.first?.portal == "main", "\(late)")
    }

    @Test("the command prints an entry that commits out of order, and prints each entry once")
    func command() async throws {
        let (scratch, db) = try migratedDatabase()
        try Self.enqueue(1, on: db)
        let follow = try CLI.spawn(["log", "--follow", "--json"], environment: ["DATABASE_URL": scratch.conninfo])
        let long = try scratch.connect()
        try await Task.sleep(for: .milliseconds(800))
        try long.execute("BEGIN")
        try Self.enqueue(2, on: long)
        try Self.enqueue(3, on: db)
        try await Task.sleep(for: .milliseconds(1_200))
        try long.execute("COMMIT")
        try await Task.sleep(for: .milliseconds(1_500))
        follow.signal(SIGTERM)
        let output = await follow.finish(timeout: .seconds(30))
        let seqs = output.stdout.split(separator: "\n").compactMap { line -> Int64? in
            (try? JSONValue(jsonText: String(line)))?["seq"]?.intValue
        }
        #expect(seqs.sorted() == (try Self.allSeqs(db)), "\(output.stdout)\n\(output.stderr)")
        #expect(Set(seqs).count == seqs.count)
    }
}
