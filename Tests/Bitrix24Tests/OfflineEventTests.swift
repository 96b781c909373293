import Bitrix24
import Bitrix24Simulator
import Foundation
import Testing

/// The client's offline-event methods against the simulator's queue over loopback, each rule
/// checked in what the queue holds afterwards.
@Suite("offline events: client against the simulator")
struct OfflineEventTests {
    typealias Harness = SimulatorHarness

    /// An OAuth client of a fresh simulator (offline events are for applications only).
    static func withApp<T: Sendable>(_ body: (Simulator, Bitrix24Client) async throws -> T) async throws -> T {
        try await Harness.withSimulator { sim in
            try await Harness.withClient(sim.oauthClient()) { client in try await body(sim, client) }
        }
    }

    @Test("reserve then clear: the events come back under a new process id, stay queued until cleared")
    func reserveAndClear() async throws {
        try await Self.withApp { sim, client in
            let first = await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 3282)
            let second = await sim.queueOfflineEvent(name: "onCrmLeadAdd", data: ["FIELDS": ["ID": 7]])

            let reserved = try await client.reserveOfflineEvents()
            let processID = try #require(reserved.processID)
            #expect(processID.count == 32)
            #expect(reserved.events.map(\.id) == [first, second])
            let finish = reserved.events[0]
            #expect(finish.eventName == "ONIMCONNECTORDIALOGFINISH")
            #expect(finish.data == (await sim.dialogFinishEvent(chatID: 8, sessionID: 3282)).data)
            #expect(finish.additional == ["user_id": .string(String(sim.configuration.oauth.userID))])
            #expect(finish.messageID.count == 32 && finish.messageID.allSatisfy(\.isHexDigit))
            #expect(finish.timestamp != nil)
            #expect(reserved.events[1].eventName == "ONCRMLEADADD")
            #expect(reserved.events[1].data["FIELDS"]?["ID"] == 7)

            // Reserved, not gone.
            #expect(await sim.offlineEvents().map(\.processID) == [processID, processID])
            var state = await sim.snapshot()
            #expect(state.offlineEventsQueued == 2 && state.offlineEventsReserved == 2)

            try await client.clearOfflineEvents(processID: processID, ids: [first, second])
            #expect(await sim.offlineEvents().isEmpty)
            state = await sim.snapshot()
            #expect(state.offlineEventsQueued == 0)
            #expect(state.callsByMethod == ["event.offline.get": 1, "event.offline.clear": 1])
        }
    }

    @Test("a second reserve without a process id gets only unreserved events; an empty queue gives none")
    func secondReserveSkipsReserved() async throws {
        try await Self.withApp { sim, client in
            let ids = await [
                sim.queueOfflineDialogFinish(chatID: 1, sessionID: 1), sim.queueOfflineDialogFinish(chatID: 2, sessionID: 2),
                sim.queueOfflineDialogFinish(chatID: 3, sessionID: 3),
            ]
            let a = try await client.reserveOfflineEvents(limit: 2)
            let b = try await client.reserveOfflineEvents(limit: 2)
            let c = try await client.reserveOfflineEvents(limit: 2)
            #expect(a.events.map(\.id) == Array(ids[0...1]))
            #expect(b.events.map(\.id) == [ids[2]])
            #expect(c.events.isEmpty)
            #expect(Set([a.processID, b.processID, c.processID]).count == 3)
            let holders = await sim.offlineEvents().map(\.processID)
            #expect(holders == [a.processID, a.processID, b.processID].compactMap { $0 })
        }
    }

    @Test("get with the process id: what it reserved and has not cleared; nothing new is reserved")
    func getByProcessID() async throws {
        try await Self.withApp { sim, client in
            for session in Int64(1)...3 { await sim.queueOfflineDialogFinish(chatID: 8, sessionID: session) }
            let reserved = try await client.reserveOfflineEvents()
            let processID = try #require(reserved.processID)
            try await client.clearOfflineEvents(processID: processID, ids: [reserved.events[0].id])
            let later = await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 4)

            let again = try await client.offlineEvents(reservedBy: processID)
            #expect(again.processID == processID)
            #expect(again.events.map(\.id) == reserved.events.dropFirst().map(\.id))
            let unreserved = await sim.offlineEvents().filter { !$0.isReserved }
            #expect(unreserved.map(\.id) == [later])
            // Read again, still there: clear=0 never deletes.
            #expect(try await client.offlineEvents(reservedBy: processID).events.count == 2)
        }
    }

    @Test("clear by ids clears only those ids, and only from the process named")
    func clearOnlyThose() async throws {
        try await Self.withApp { sim, client in
            for session in Int64(1)...4 { await sim.queueOfflineDialogFinish(chatID: 8, sessionID: session) }
            let a = try await client.reserveOfflineEvents(limit: 3)
            let b = try await client.reserveOfflineEvents(limit: 3)
            let aID = try #require(a.processID), bID = try #require(b.processID)

            try await client.clearOfflineEvents(processID: aID, ids: [a.events[1].id])
            // B's record named under A's process: not A's, so untouched.
            try await client.clearOfflineEvents(processID: aID, ids: [b.events[0].id])
            let left = await sim.offlineEvents()
            #expect(left.map(\.id) == [a.events[0].id, a.events[2].id, b.events[0].id])
            #expect(left.map(\.processID) == [aID, aID, bID])
        }
    }

    @Test("an empty id list or process id is refused before any request: the portal would clear too much")
    func clearGuards() async throws {
        try await Self.withApp { sim, client in
            await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 1)
            let reserved = try await client.reserveOfflineEvents()
            let processID = try #require(reserved.processID)
            let noIDs = try #require(await bitrix24Error { try await client.clearOfflineEvents(processID: processID, ids: []) })
            #expect(noIDs.code == .invalidArgument && noIDs.failureClass == .permanent)
            let noProcess = try #require(await bitrix24Error { try await client.clearOfflineEvents(processID: " ", ids: [1]) })
            #expect(noProcess.code == .invalidArgument)
            let noReader = try #require(await bitrix24Error { try await client.offlineEvents(reservedBy: "") })
            #expect(noReader.code == .invalidArgument)
            #expect(await sim.snapshot().callsByMethod == ["event.offline.get": 1])
            #expect(await sim.offlineEvents().count == 1)
        }
    }

    @Test("clear=1 (the portal's default): the events returned are deleted at once, no process id")
    func clearOnRead() async throws {
        try await Self.withApp { sim, client in
            for session in Int64(1)...3 { await sim.queueOfflineDialogFinish(chatID: 8, sessionID: session) }
            let response = try await client.call("event.offline.get", params: ["limit": 2])
            let read = try OfflineEvents(json: response.result)
            #expect(read.processID == nil)
            #expect(response.result["process_id"] == .null)
            #expect(read.events.count == 2)
            let left = await sim.offlineEvents()
            #expect(left.count == 1 && !left[0].isReserved)
            #expect(!read.events.map(\.id).contains(left[0].id))
        }
    }

    @Test("a webhook gets WRONG_AUTH_TYPE (403, permanent) from all three methods; the queue is untouched")
    func webhookRefused() async throws {
        try await Harness.withWebhookClient { sim, client in
            await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 1)
            let calls: [@Sendable () async throws -> Void] = [
                { _ = try await client.reserveOfflineEvents() },
                { _ = try await client.offlineEvents(reservedBy: "p") },
                { _ = try await client.listOfflineEvents() },
                { try await client.clearOfflineEvents(processID: "p", ids: [1]) },
            ]
            for call in calls {
                let error = try #require(await bitrix24Error { try await call() })
                #expect(error.code == .wrongAuthType)
                #expect(error.httpStatus == 403 && error.failureClass == .permanent)
            }
            #expect(await sim.offlineEvents().map(\.isReserved) == [false])
            #expect(await sim.snapshot().rejected["WRONG_AUTH_TYPE"] == 4)
        }
    }
}
