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
        let first = maintenance("host-a", lease: .milliseconds(600))
        let second = maintenance("host-b")
        let a = try first.round(on: db)
        #expect(a.held)
        #expect(try !second.round(on: db).held, "a turn held and not expired is left alone")
        #expect(try first.round(on: db).held, "its holder renews it")
        // host-a stops renewing, as a host cut from the network does: host-b takes over once the lease is out.
        Thread.sleep(forTimeInterval: 0.8)
        let b = try second.round(on: db)
        #expect(b.held)
        #expect(try !first.round(on: db).held)
        #expect(try db.query("SELECT holder FROM outbox.maintenance_turn").first!.decode(0, as: String.self) == "host-b")
        // Given up in order, the turn is free at once.
        try db.execute("SELECT outbox.release_maintenance_turn('host-b')")
        #expect(try first.round(on: db).held)
    }

    @Test("the holder reaps expired leases and creates the log's months ahead; a process without the turn touches neither")
    func holderDoesTheWork() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        let id = try db.query("SELECT outbox.enqueue('main', 'notify.system', '{\"USER_ID\": 5, \"MESSAGE\": \"hi\"}')")
            .first!.decode(0, as: Int64.self)
        try db.execute("""
            UPDATE outbox.intents SET status = 'claimed', attempts = 1, lease_owner = 'gone-1/1',
                   lease_expires_at = now() - interval '1 second' WHERE id = $1
            """, [id])
        var configuration = Maintenance.Configuration()
        configuration.holder = "other"
        let other = Maintenance(conninfo: scratch.conninfo, configuration: configuration, logger: Logger(label: "test"))
        try db.execute("SELECT outbox.take_maintenance_turn('someone-else', interval '1 minute')")
        let idle = try other.round(on: db)
        #expect(!idle.held && idle.reaped == 0 && idle.partitions.isEmpty)
        #expect(try db.query("SELECT status FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: String.self) == "claimed")

        try db.execute("SELECT outbox.release_maintenance_turn('someone-else')")
        let round = try other.round(on: db)
        #expect(round.held)
        #expect(round.reaped == 1)
        #expect(try db.query("SELECT status FROM outbox.intents WHERE id = $1", [id]).first!.decode(0, as: String.self) == "pending")
        // The months ahead exist (migrate made them), so none is created; the next check is an hour away.
        #expect(try other.round(on: db).reaped == 0)
    }

    @Test("no worker thread reaps: with maintenance held elsewhere, a pool leaves an expired lease alone")
    func workersDoNotReap() async throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        let id = try db.query("SELECT outbox.enqueue('main', 'notify.system', '{\"USER_ID\": 5, \"MESSAGE\": \"hi\"}')")
            .first!.decode(0, as: Int64.self)
        try db.execute("""
            UPDATE outbox.intents SET status = 'claimed', attempts = 1, lease_owner = 'gone-1/1',
                   lease_expires_at = now() - interval '1 second' WHERE id = $1
            """, [id])
        try db.execute("SELECT outbox.take_maintenance_turn('elsewhere', interval '1 hour')")
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
}
