import Foundation
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct DatabaseExecutorTests {
    let scratch: ScratchDatabase

    init() throws {
        scratch = try ScratchDatabase()
    }

    func executor(threads: Int, maxQueued: Int = 1_000) -> DatabaseExecutor {
        var configuration = DatabaseExecutor.Configuration()
        configuration.threads = threads
        configuration.maxQueued = maxQueued
        return DatabaseExecutor(conninfo: scratch.conninfo, configuration: configuration)
    }

    @Test func manyConcurrentCallersShareAFixedSetOfConnections() async throws {
        let executor = executor(threads: 3)
        defer { executor.shutdown() }
        let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<60 {
                group.addTask {
                    try await executor.run { db in try db.query("SELECT pg_backend_pid()").first!.decode(0) }
                }
            }
            return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
        }
        #expect((1...3).contains(pids.count), "\(pids.count) connections")
    }

    @Test("with checkAfterIdle, a connection closed while idle is replaced before the next job, which runs once")
    func anIdleConnectionIsCheckedFirst() async throws {
        var configuration = DatabaseExecutor.Configuration()
        configuration.threads = 1
        configuration.checkAfterIdle = .milliseconds(200)
        let executor = DatabaseExecutor(conninfo: scratch.conninfo, configuration: configuration)
        defer { executor.shutdown() }
        let first: Int32 = try await executor.run { try $0.query("SELECT pg_backend_pid()").first!.decode(0) }
        let admin = try scratch.connect()
        try admin.execute("SELECT pg_terminate_backend($1)", [first])
        try await Task.sleep(for: .milliseconds(400))
        // No retry asked for: the job meets a live connection the first time.
        let second: Int32 = try await executor.run { try $0.query("SELECT pg_backend_pid()").first!.decode(0) }
        #expect(second != first)
    }

    @Test func aLostConnectionIsReplaced() async throws {
        let executor = executor(threads: 1)
        defer { executor.shutdown() }
        let first: Int32 = try await executor.run { try $0.query("SELECT pg_backend_pid()").first!.decode(0) }
        let admin = try scratch.connect()
        try admin.execute("SELECT pg_terminate_backend($1)", [first])

        // Without a retry the job sees the loss; the next one gets a new connection.
        await #expect(throws: PostgresError.self) {
            try await executor.run { try $0.query("SELECT 1").first!.decode(0, as: Int.self) }
        }
        let second: Int32 = try await executor.run { try $0.query("SELECT pg_backend_pid()").first!.decode(0) }
        #expect(second != first)

        // With a retry, the loss is invisible to the caller.
        try admin.execute("SELECT pg_terminate_backend($1)", [second])
        let third: Int32 = try await executor.run(retryOnConnectionLoss: true) {
            try $0.query("SELECT pg_backend_pid()").first!.decode(0)
        }
        #expect(third != second)
    }

    @Test func aTransactionLeftOpenIsNotJoinedByTheNextJob() async throws {
        let executor = executor(threads: 1)
        defer { executor.shutdown() }
        let first: Int32 = try await executor.run { db in
            try db.execute("BEGIN")
            try db.execute("CREATE TABLE never_committed (x int)")
            return try db.query("SELECT pg_backend_pid()").first!.decode(0)
        }
        let (pid, inTransaction, tableExists): (Int32, Bool, Bool) = try await executor.run { db in
            (try db.query("SELECT pg_backend_pid()").first!.decode(0), db.isInTransaction,
             try db.query("SELECT to_regclass('never_committed') IS NOT NULL").first!.decode(0))
        }
        #expect(pid != first, "a fresh connection")
        #expect(!inTransaction)
        #expect(!tableExists, "the open transaction was rolled back, not committed by the next job")
    }

    @Test func aFullQueueRefusesInsteadOfGrowing() async throws {
        let executor = executor(threads: 1, maxQueued: 2)
        defer { executor.shutdown() }
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    do {
                        try await executor.run { try $0.execute("SELECT pg_sleep(0.2)") }
                        return true
                    } catch DatabaseExecutor.ExecutorError.overloaded {
                        return false
                    } catch {
                        Issue.record("unexpected \(error)")
                        return false
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.contains(false), "some callers were refused")
        #expect(results.filter { $0 }.count >= 2, "queued work still ran")
    }

    @Test func afterShutdownNothingRuns() async throws {
        let executor = executor(threads: 1)
        executor.shutdown()
        await #expect(throws: DatabaseExecutor.ExecutorError.self) {
            try await executor.run { try $0.execute("SELECT 1") }
        }
    }

    @Test func anUnreachableDatabaseFailsTheJobNotTheExecutor() async throws {
        let executor = DatabaseExecutor(conninfo: "host=127.0.0.1 port=1 connect_timeout=2")
        defer { executor.shutdown() }
        await #expect(throws: PostgresError.self) {
            try await executor.run { try $0.execute("SELECT 1") }
        }
        await #expect(throws: PostgresError.self) {
            try await executor.run(retryOnConnectionLoss: true) { try $0.execute("SELECT 1") }
        }
    }
}
