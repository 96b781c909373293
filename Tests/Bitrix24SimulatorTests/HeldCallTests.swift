import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Testing

/// Requests parked before the portal sees them, then dropped or released.
@Suite("held calls")
struct HeldCallTests {
    static func waitForHeld(_ sim: Simulator, _ method: String, count: Int = 1) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while await sim.heldCallCount(for: method) < count {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("a held batch waits while single calls pass; dropped, the client gets no answer and nothing ran")
    func dropBatch() async throws {
        try await Simulator.with { sim in
            await sim.queueOfflineDialogFinish(chatID: 8, sessionID: 1)
            let token = JSONValue.string(sim.configuration.oauth.accessToken)
            await sim.holdCalls(to: "batch")
            let held = Task { try await Wire.json(sim.oauth("batch"), ["auth": token, "cmd": ["a": "event.offline.get?clear=1"]]) }
            try await Self.waitForHeld(sim, "batch")
            #expect(try await Wire.json(sim.oauth("server.time"), ["auth": token]).status == 200)
            #expect(await sim.heldCallCount(for: "batch") == 1)
            #expect(await sim.heldCallCount(for: "server.time") == 0)

            await sim.dropHeldCalls()
            await #expect(throws: (any Error).self) { _ = try await held.value }
            #expect(await sim.offlineEvents().count == 1)
            let state = await sim.snapshot()
            #expect(state.batches == 0 && state.callsByMethod["event.offline.get"] == nil)
            // Holding stopped with the drop.
            #expect(try await Wire.json(sim.oauth("batch"), ["auth": token, "cmd": ["t": "server.time"]]).status == 200)
        }
    }

    @Test("released, held calls run as if they had just arrived; the method name is matched as the URL gives it")
    func release() async throws {
        try await Simulator.with { sim in
            await sim.holdCalls(to: "IM.NOTIFY.SYSTEM.ADD.json")
            let calls = (1...2).map { i in
                Task { try await Wire.json(sim.hook("im.notify.system.add.json"), ["USER_ID": 2, "MESSAGE": .string("m\(i)")]) }
            }
            try await Self.waitForHeld(sim, "im.notify.system.add", count: 2)
            #expect(await sim.snapshot().notifications.isEmpty)
            await sim.releaseHeldCalls()
            for call in calls { #expect(try await call.value.status == 200) }
            #expect(await sim.snapshot().notifications.count == 2)
        }
    }

    @Test("reset and stop drop held requests instead of leaving them hanging")
    func resetAndStop() async throws {
        let sim = try await Simulator.start()
        do {
            await sim.holdCalls(to: "server.time")
            let beforeReset = Task { try await Wire.json(sim.hook("server.time"), [:]) }
            try await Self.waitForHeld(sim, "server.time")
            await sim.reset()
            await #expect(throws: (any Error).self) { _ = try await beforeReset.value }
            #expect(try await Wire.json(sim.hook("server.time"), [:]).status == 200)

            await sim.holdCalls(to: "server.time")
            let beforeStop = Task { try await Wire.json(sim.hook("server.time"), [:]) }
            try await Self.waitForHeld(sim, "server.time")
            await sim.stop()
            await #expect(throws: (any Error).self) { _ = try await beforeStop.value }
        } catch {
            await sim.stop()
            throw error
        }
    }
}
