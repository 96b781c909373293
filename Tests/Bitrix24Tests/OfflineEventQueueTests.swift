import Bitrix24
import Bitrix24Simulator
import Foundation
import Testing

/// Listing, accumulation, limits and held calls: the offline queue's rules seen through the
/// client, over loopback.
@Suite("offline events: list, accumulation, limits, held calls")
struct OfflineEventQueueTests {
    static func withApp<T: Sendable>(_ body: (Simulator, Bitrix24Client) async throws -> T) async throws -> T {
        try await OfflineEventTests.withApp(body)
    }

    /// Polls until `condition` holds; fails the test after `timeout`.
    static func waitUntil(
        _ what: String, timeout: Duration = .seconds(20), _ condition: () async -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while await !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting until \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("list with >PROCESS_ID \"\" finds reserved but uncleared records, with their process id; ! is refused")
    func listReserved() async throws {
        try await Self.withApp { sim, client in
            for session in Int64(1)...3 { await sim.queueOfflineDialogFinish(chatID: 8, sessionID: session) }
            let reserved = try await client.reserveOfflineEvents(limit: 2)
            let processID = try #require(reserved.processID)

            let found = try await client.listOfflineEvents(filter: [">PROCESS_ID": ""])
            #expect(found.events.map(\.id) == reserved.events.map(\.id))
            #expect(found.events.map(\.processID) == [processID, processID])
            #expect(found.next == nil)

            let all = try await client.listOfflineEvents()
            #expect(all.events.map(\.processID) == [processID, processID, ""])
            #expect(all.events.map(\.error) == [false, false, false])
            #expect(try await client.listOfflineEvents(filter: ["PROCESS_ID": ""]).events.count == 1)
            #expect(try await client.listOfflineEvents(filter: ["=process_id": .string(processID)]).events.count == 2)

            // The key reaches the portal intact; the portal does not negate.
            let error = try #require(await bitrix24Error { try await client.listOfflineEvents(filter: ["!PROCESS_ID": ""]) })
            #expect(error.code == .argument && error.httpStatus == 400)
            #expect(error.errorDescription == "Filter operation not allowed: !")
            // Listing reserves and deletes nothing.
            #expect(await sim.snapshot().offlineEventsReserved == 2)
        }
    }

    @Test("list pages hold 50 records; next is the following start, absent on the last page")
    func listPages() async throws {
        try await Self.withApp { sim, client in
            for session in Int64(1)...55 { await sim.queueOfflineDialogFinish(chatID: 8, sessionID: session) }
            let first = try await client.listOfflineEvents()
            #expect(first.events.count == 50 && first.next == 50)
            let second = try await client.listOfflineEvents(start: 50)
            #expect(second.events.count == 5 && second.next == nil)
            let ids = (first.events + second.events).map(\.id)
            #expect(ids == (await sim.offlineEvents()).map(\.id))
        }
    }

    @Test("the same content queued again while unreserved refreshes TIMESTAMP_X only; once reserved, it is queued anew")
    func accumulation() async throws {
        try await Self.withApp { sim, client in
            let id = await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 1)
            let before = try #require(await sim.offlineEvents().first)
            try await Task.sleep(for: .milliseconds(20))
            #expect(await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 1) == id)
            let after = try #require(await sim.offlineEvents().first)
            #expect(await sim.offlineEvents().count == 1)
            #expect(after.timestamp > before.timestamp)
            #expect(after.messageID == before.messageID)

            let other = await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 2)
            #expect(other != id)
            #expect(Set(await sim.offlineEvents().map(\.messageID)).count == 2)

            _ = try await client.reserveOfflineEvents()
            let requeued = await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 1)
            #expect(requeued != id)
            let records = await sim.offlineEvents()
            #expect(records.count == 3)
            #expect(records.filter { $0.messageID == before.messageID }.map(\.isReserved) == [true, false])
        }
    }

    @Test("limit bounds what is reserved and read; limit 0 is ERROR_ARGUMENT and reserves nothing; 50 by default")
    func limits() async throws {
        try await Self.withApp { sim, client in
            for session in Int64(1)...55 { await sim.queueOfflineDialogFinish(chatID: 8, sessionID: session) }
            let error = try #require(await bitrix24Error { try await client.reserveOfflineEvents(limit: 0) })
            #expect(error.code == .argument && error.failureClass == .permanent)
            #expect(await sim.snapshot().offlineEventsReserved == 0)

            let two = try await client.reserveOfflineEvents(limit: 2)
            #expect(two.events.count == 2)
            #expect(await sim.snapshot().offlineEventsReserved == 2)
            let processID = try #require(two.processID)
            #expect(try await client.offlineEvents(reservedBy: processID, limit: 1).events.map(\.id) == [two.events[0].id])

            let rest = try await client.reserveOfflineEvents()
            #expect(rest.events.count == 50)
            #expect(await sim.snapshot().offlineEventsReserved == 52)
        }
    }

    @Test("a clear cut off mid-call (held, then dropped): transport failure, nothing cleared; the process finds its events again")
    func droppedClear() async throws {
        try await Self.withApp { sim, client in
            await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 1)
            await sim.queueOfflineDialogFinish(chatID: 9, sessionID: 2)
            let reserved = try await client.reserveOfflineEvents()
            let processID = try #require(reserved.processID)
            let ids = reserved.events.map(\.id)

            await sim.holdCalls(to: "event.offline.clear")
            let clearing = Task { try await client.clearOfflineEvents(processID: processID, ids: ids) }
            try await Self.waitUntil("the clear is held") { await sim.heldCallCount(for: "event.offline.clear") == 1 }
            await sim.dropHeldCalls()
            let error = try #require(await bitrix24Error { try await clearing.value })
            #expect(error.code == .connectionClosed && error.failureClass == .ambiguous)
            #expect(await sim.offlineEvents().map(\.processID) == [processID, processID])
            #expect(await sim.snapshot().callsByMethod["event.offline.clear"] == nil)

            // What a restarted process does with the id it stored: read, then clear (no longer held).
            try await SimulatorHarness.withClient(sim.oauthClient()) { restarted in
                let again = try await restarted.offlineEvents(reservedBy: processID)
                #expect(again.events.map(\.id) == ids)
                try await restarted.clearOfflineEvents(processID: processID, ids: ids)
            }
            #expect(await sim.offlineEvents().isEmpty)
        }
    }

    @Test("a held call released runs normally; holding a method leaves others, and batches, alone")
    func releasedClear() async throws {
        try await Self.withApp { sim, client in
            await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 1)
            let reserved = try await client.reserveOfflineEvents()
            let processID = try #require(reserved.processID)

            await sim.holdCalls(to: "event.offline.clear")
            let clearing = Task { try await client.clearOfflineEvents(processID: processID, ids: [reserved.events[0].id]) }
            try await Self.waitUntil("the clear is held") { await sim.heldCallCount(for: "event.offline.clear") == 1 }
            #expect(try await client.listOfflineEvents().events.count == 1)
            let batch = try await client.batch([BatchCommand(key: "t", method: "server.time")])
            if case .success = batch["t"] {} else { Issue.record("the batch did not run: \(String(describing: batch["t"]))") }
            #expect(await sim.offlineEvents().count == 1)

            await sim.releaseHeldCalls()
            try await clearing.value
            #expect(await sim.offlineEvents().isEmpty)
            #expect(await sim.heldCallCount(for: "event.offline.clear") == 0)
        }
    }
}
