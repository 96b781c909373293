import Foundation
import Outbox
import Postgres
import Synchronization
import Testing
import TestSupport

/// Every intent belongs to an existing portal (sql/010 checks it per statement): inserts to a
/// missing portal fail, a portal with intents cannot be removed, even by a removal racing an
/// enqueue, and an intent never moves to another portal.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct IntentPortalTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        (scratch, db) = try migratedDatabase(portals: ["main", "other"])
    }

    func portalID(_ name: String) throws -> Int64 {
        try db.query("SELECT id FROM outbox.portals WHERE name = $1", [name]).first!.decode(0)
    }

    func count(_ sql: String) throws -> Int64 {
        try db.query(sql).first!.decode(0)
    }

    @Test func anInsertToAMissingPortalFailsAndWritesNothing() throws {
        let error = #expect(throws: PostgresError.self) {
            try db.execute("""
                INSERT INTO outbox.intents (portal_id, kind, payload, idempotency_key)
                SELECT $1::bigint, 'notify.system', '{"USER_ID": 1, "MESSAGE": "x"}'::jsonb, 'k-' || n FROM generate_series(1, 3) n
                UNION ALL SELECT 999999, 'notify.system', '{"USER_ID": 1, "MESSAGE": "x"}'::jsonb, 'k-missing'
                """, [try portalID("main")])
        }
        #expect(error?.code == .foreignKeyViolation)
        #expect(error?.message.contains("999999") == true)
        #expect(try count("SELECT count(*) FROM outbox.intents") == 0)
    }

    @Test func aPortalWithIntentsCannotBeRemovedEvenDirectly() throws {
        _ = try Producer.enqueue(.notification(portal: "main", user: 1, message: "hello"), on: db)
        let error = #expect(throws: PostgresError.self) {
            try db.execute("DELETE FROM outbox.portals WHERE name = 'main'")
        }
        #expect(error?.code == .foreignKeyViolation)
        #expect(try count("SELECT count(*) FROM outbox.portals") == 2)
        // A portal without intents goes as before.
        try db.execute("DELETE FROM outbox.portals WHERE name = 'other'")
        #expect(try count("SELECT count(*) FROM outbox.portals") == 1)
    }

    @Test func anIntentNeverMovesToAnotherPortal() throws {
        let id = try Producer.enqueue(.notification(portal: "main", user: 1, message: "hello"), on: db)
        let error = #expect(throws: PostgresError.self) {
            try db.execute("UPDATE outbox.intents SET portal_id = $1 WHERE id = $2", [try portalID("other"), id])
        }
        #expect(error?.code == .foreignKeyViolation)
        #expect(try db.query("SELECT portal_id FROM outbox.intents WHERE id = $1", [id]).first!.decode(0) == (try portalID("main")))
        // Setting the same portal again is no move.
        try db.execute("UPDATE outbox.intents SET portal_id = portal_id WHERE id = $1", [id])
    }

    @Test func aRemovalWaitsForAnEnqueueInFlightThenRefuses() throws {
        let producer = try scratch.connect()
        try producer.execute("BEGIN")
        _ = try Producer.enqueue([.notification(portal: "other", user: 1, message: "racing")], on: producer)
        // The removal blocks on the enqueue's lock of the portal until the enqueue commits.
        let conninfo = scratch.conninfo
        let outcome = Mutex<Result<Void, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let result = Result { () throws -> Void in
                let remover = try Connection(conninfo)
                try remover.execute("DELETE FROM outbox.portals WHERE name = 'other'")
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        // Still waiting while the enqueue is open.
        #expect(done.wait(timeout: .now() + 0.3) == .timedOut)
        let waiting: Int64 = try db.query("""
            SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM outbox.portals%'
            """).first!.decode(0)
        #expect(waiting == 1)
        try producer.execute("COMMIT")
        done.wait()
        let result = try #require(outcome.withLock { $0 })
        #expect(throws: PostgresError.self) { try result.get() }
        #expect(try count("SELECT count(*) FROM outbox.portals WHERE name = 'other'") == 1)
        #expect(try count("SELECT count(*) FROM outbox.intents") == 1)
    }

    @Test func anEnqueueWaitingOnARemovalFailsOnceItCommits() throws {
        let remover = try scratch.connect()
        try remover.execute("BEGIN")
        try remover.execute("DELETE FROM outbox.portals WHERE name = 'other'")
        let conninfo = scratch.conninfo
        let producerPID = Mutex<Int32?>(nil)
        let outcome = Mutex<Result<[Int64], any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let result = Result { () throws -> [Int64] in
                let producer = try Connection(conninfo)
                producerPID.withLock { $0 = producer.backendPID }
                return try Producer.enqueue([.notification(portal: "other", user: 1, message: "late")], on: producer)
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        // The enqueue found the portal (the removal is not committed) and now waits on its lock.
        try waitUntilBlocked { producerPID.withLock { $0 } }
        try remover.execute("COMMIT")
        done.wait()
        let result = try #require(outcome.withLock { $0 })
        let error = #expect(throws: PostgresError.self) { try result.get() }
        #expect(error?.code == .foreignKeyViolation)
        #expect(try count("SELECT count(*) FROM outbox.intents") == 0)
    }

    @Test func aRemovalUnderAStricterIsolationLevelIsRefused() throws {
        for level in ["REPEATABLE READ", "SERIALIZABLE"] {
            try db.execute("BEGIN ISOLATION LEVEL \(level)")
            let error = #expect(throws: PostgresError.self) {
                try db.execute("DELETE FROM outbox.portals WHERE name = 'other'")
            }
            try db.execute("ROLLBACK")
            #expect(error?.code == "55000", "\(level)")
        }
        // The same removal under READ COMMITTED, as `portal remove` runs it, goes through.
        try PortalStore.remove(named: "other", on: db)
        #expect(try count("SELECT count(*) FROM outbox.portals") == 1)
    }

    @Test func aPortalsIdNeverChangesAndTruncateSparesNoIntent() throws {
        _ = try Producer.enqueue(.notification(portal: "main", user: 1, message: "hello"), on: db)
        let moved = #expect(throws: PostgresError.self) {
            try db.execute("UPDATE outbox.portals SET id = DEFAULT WHERE name = 'other'")
        }
        #expect(moved?.code == .foreignKeyViolation)
        let truncated = #expect(throws: PostgresError.self) {
            try db.execute("TRUNCATE outbox.portals CASCADE")
        }
        #expect(truncated?.code == .foreignKeyViolation)
        #expect(try count("SELECT count(*) FROM outbox.portals") == 2)
        #expect(try count("SELECT count(*) FROM outbox.intents") == 1)
    }

    /// Waits until the backend `pid()` names is blocked on a lock (30 s at most).
    func waitUntilBlocked(_ pid: () -> Int32?) throws {
        for _ in 0..<300 {
            if let pid = pid() {
                let blocked: Bool = try db.query(
                    "SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE pid = $1", [pid]
                ).first!.decode(0)
                if blocked { return }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("the backend never blocked on a lock")
    }
}
