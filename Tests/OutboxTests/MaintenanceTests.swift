import Foundation
import Logging
import Outbox
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct MaintenanceTests {
    @Test("one holder at a time does the maintenance; the others wait until it gives the turn up or its lease runs out")
    func oneHolderAtATime() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        func maintenance(_ holder: String, lease: Duration = .seconds(15)) -> Maintenance {
            var configuration = Maintenance.Configuration()
            configuration.holder = holder
            configuration.turnLease = lease
            return Maintenance(conninfo: scratch.conninfo, configuration: configuration, logger: Logger(label: "test"))
        }
        let first = maintenance("host-a", lease: .seconds(1))
        let second = maintenance("host-b")
        let a = try first.round(on: db)
        #expect(a.held == [.reap, .partitions])
        #expect(try second.round(on: db).held.isEmpty, "a turn held and not expired is left alone")
        #expect(try first.round(on: db).held == [.reap, .partitions], "its holder renews it")
        // host-a stops renewing, as a host cut from the network does: host-b takes over once the lease is out.
        Thread.sleep(forTimeInterval: 1.3)
        let b = try second.round(on: db)
        #expect(b.held == [.reap, .partitions])
        #expect(try first.round(on: db).held.isEmpty)
        #expect(try db.query("SELECT DISTINCT holder FROM outbox.maintenance_turn").map { try $0.decode(0, as: String.self) } == ["host-b"])
        // Given up in order, the turn is free at once.
        try db.execute("SELECT outbox.release_maintenance_turn('host-b')")
        #expect(try first.round(on: db).held == [.reap, .partitions])
        // A process that takes partitions only (serve) never takes the reaping.
        try db.execute("SELECT outbox.release_maintenance_turn('host-a')")
        var partitionsOnly = Maintenance.Configuration()
        partitionsOnly.holder = "serve"
        partitionsOnly.jobs = [.partitions]
        let serve = Maintenance(conninfo: scratch.conninfo, configuration: partitionsOnly, logger: Logger(label: "test"))
        #expect(try serve.round(on: db).held == [.partitions])
        #expect(try second.round(on: db).held == [.reap])
    }

    @Test("the holder reaps expired leases and creates the log's months ahead; a process without the turn touches neither")
    func holderDoesTheWork() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        let id = try Self.claimWhoseLeaseExpired(on: db)
        var configuration = Maintenance.Configuration()
        configuration.holder = "other"
        let other = Maintenance(conninfo: scratch.conninfo, configuration: configuration, logger: Logger(label: "test"))
        try db.execute("SELECT outbox.take_maintenance_turn('reap', 'someone-else', interval '1 minute')")
        let idle = try other.round(on: db)
        #expect(idle.held == [.partitions] && idle.reaped == 0)
        #expect(try db.query("SELECT status FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: String.self) == "claimed")

        try db.execute("SELECT outbox.release_maintenance_turn('someone-else')")
        let round = try other.round(on: db)
        #expect(round.held == [.reap, .partitions])
        #expect(round.reaped == 1)
        #expect(try db.query("SELECT status FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: String.self) == "pending")
        // The months ahead are checked once an hour; a month gone missing meanwhile waits for that.
        let furthest = try db.query("""
            SELECT max(c.relname::text) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'outbox.log'::regclass AND c.relname <> 'log_default'
            """).first!.decode(0, as: String.self)
        try db.execute("ALTER TABLE outbox.log DETACH PARTITION outbox.\(furthest)")
        try db.execute("DROP TABLE outbox.\(furthest)")
        #expect(try other.round(on: db).partitions == [])
        var hourly = Maintenance.Configuration()
        hourly.holder = "other"
        hourly.partitionsEvery = .zero
        let due = try Maintenance(conninfo: scratch.conninfo, configuration: hourly, logger: Logger(label: "test")).round(on: db)
        #expect(due.held.contains(.partitions))
        #expect(due.partitions == ["outbox.\(furthest)"])
    }

    @Test("a turn lasts 1 s to 5 min: no caller holds it for longer than a cut-off host should")
    func turnLeaseIsBounded() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        for lease in ["interval '1 hour'", "interval '-1 second'", "interval '10 milliseconds'", "NULL"] {
            let refused = try #require(throws: PostgresError.self) {
                try db.execute("SELECT outbox.take_maintenance_turn('reap', 'x', \(lease))")
            }
            #expect(refused.code == .invalidParameterValue, "\(lease)")
        }
        #expect(try db.query("SELECT count(*) FROM outbox.maintenance_turn").first!.decode(0, as: Int.self) == 0)
    }

    @Test("no worker thread reaps: with maintenance held elsewhere, a pool leaves an expired lease alone")
    func workersDoNotReap() async throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        let id = try Self.claimWhoseLeaseExpired(on: db)
        // Held elsewhere for longer than the test runs, as a live process on another host holds it.
        try db.execute("INSERT INTO outbox.maintenance_turn (task, holder, until) VALUES ('reap', 'elsewhere', now() + interval '1 hour')")
        var configuration = WorkerPool.Configuration()
        configuration.idlePoll = .milliseconds(100)
        let clients = PortalClients(conninfo: scratch.conninfo, logger: Logger(label: "test"))
        let pool = WorkerPool(conninfo: scratch.conninfo, configuration: configuration, clients: clients, logger: Logger(label: "test"))
        let running = Task { await pool.runUntilStopped() }
        try await Task.sleep(for: .seconds(3))
        #expect(try db.query("SELECT status FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: String.self) == "claimed")
        pool.stop()
        await running.value
        try await clients.shutdown()
    }

    /// An intent claimed by a pool that is gone, its lease over.
    static func claimWhoseLeaseExpired(on db: Connection) throws -> Int64 {
        let id = try db.query("SELECT outbox.enqueue('main', 'notify.system', '{\"USER_ID\": 5, \"MESSAGE\": \"hi\"}')")
            .first!.decode(0, as: Int64.self)
        try db.execute("""
            UPDATE outbox.intents SET status = 'claimed', attempts = 1, lease_owner = 'gone-1/1',
                   lease_expires_at = now() - interval '1 second' WHERE id = $1
            """, [id])
        return id
    }
}
