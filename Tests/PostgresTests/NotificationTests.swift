import Foundation
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct NotificationTests {
    let scratch: ScratchDatabase

    init() throws {
        scratch = try ScratchDatabase()
    }

    @Test func notifyOnOneConnectionReachesAListenerOnAnother() throws {
        let listener = try scratch.connect()
        try listener.listen("outbox wake")  // a name that needs quoting
        let conninfo = scratch.conninfo
        // The sender runs on its own thread with its own connection, after the listener waits.
        let sent = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.2)
            if let sender = try? Connection(conninfo) {
                _ = try? sender.notify("outbox wake", payload: "intent-42")
            }
            sent.signal()
        }
        let started = ContinuousClock.now
        let note = try listener.waitForNotification(timeout: .seconds(10))
        let waited = ContinuousClock.now - started
        sent.wait()
        #expect(note?.channel == "outbox wake")
        #expect(note?.payload == "intent-42")
        // Woken by the notification, not by the timeout.
        #expect(waited < .seconds(10))
    }

    @Test func waitWithoutNotificationReturnsNilAfterTheTimeout() throws {
        let listener = try scratch.connect()
        try listener.listen("quiet")
        let started = ContinuousClock.now
        let note = try listener.waitForNotification(timeout: .milliseconds(300))
        let waited = ContinuousClock.now - started
        #expect(note == nil)
        #expect(waited >= .milliseconds(290))
    }

    @Test func aReadableInterruptDescriptorEndsTheWaitAtOnce() throws {
        let listener = try scratch.connect()
        try listener.listen("interrupted")
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { ends.forEach { close($0) } }
        let writeEnd = ends[1]
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.2)
            var byte: UInt8 = 1
            _ = write(writeEnd, &byte, 1)
        }
        let started = ContinuousClock.now
        let note = try listener.waitForNotification(timeout: .seconds(30), interrupt: ends[0])
        #expect(note == nil)
        // Ended by the descriptor, long before the timeout.
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func notificationsSentInATransactionArriveOnlyAfterCommit() throws {
        let listener = try scratch.connect()
        try listener.listen("tx")
        let sender = try scratch.connect()
        try sender.transaction { db in
            try db.notify("tx", payload: "one")
            #expect(try listener.waitForNotification(timeout: .milliseconds(200)) == nil)
        }
        #expect(try listener.waitForNotification(timeout: .seconds(5))?.payload == "one")
    }

    @Test func waitingOnALostConnectionThrows() throws {
        let listener = try scratch.connect()
        try listener.listen("gone")
        let admin = try scratch.connect()
        try admin.execute("SELECT pg_terminate_backend($1)", [listener.backendPID])
        #expect(throws: PostgresError.self) {
            _ = try listener.waitForNotification(timeout: .seconds(5))
        }
    }
}
