import Bitrix24
import Bitrix24Simulator
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

/// A call waiting on the network holds no worker thread: one thread keeps many portals' calls
/// in flight at once, never more than `maxInFlight`, and every intent still lands once.
@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct CallsInFlightTests {
    /// Six portals whose `batch` calls the simulator holds, ten notifications each, and one
    /// pool of a single worker thread delivering them until idle.
    private func withHeldPortals(
        maxInFlight: Int, _ body: (_ cloud: SimulatedCloud, _ heldNow: () async -> [Int]) async throws -> Void
    ) async throws {
        var base = Simulator.Configuration()
        base.rateLimit = nil
        let cloud = try await SimulatedCloud.start(portals: 6, base)
        let scratch = try ScratchDatabase()
        let db = try scratch.connect()
        try Migrator().migrate(on: db)
        for (index, simulator) in cloud.portals.enumerated() {
            try PortalStore.add(PortalRegistration(
                name: "p\(index)", credentials: try .webhook(simulator.webhookURL, allowInsecureHTTP: true)), on: db)
            await simulator.holdCalls(to: "batch")
            _ = try Producer.enqueue((0..<10).map {
                .notification(portal: "p\(index)", user: Int64($0 + 1), message: "m\($0)", key: "p\(index)-\($0)")
            }, on: db)
        }
        func heldNow() async -> [Int] {
            var held: [Int] = []
            for simulator in cloud.portals { held.append(await simulator.heldCallCount(for: "batch")) }
            return held
        }
        let run = Task {
            try await DeliveryHarness.deliver(conninfo: scratch.conninfo, concurrency: 1, batch: 10) {
                $0.maxInFlight = maxInFlight
            }
        }
        func releaseAll() async { for simulator in cloud.portals { await simulator.releaseHeldCalls() } }
        do {
            try await body(cloud, heldNow)
        } catch {
            await releaseAll()
            _ = await run.result
            await cloud.stop()
            throw error
        }
        await releaseAll()
        let ran = await run.result
        for (index, simulator) in cloud.portals.enumerated() {
            #expect(await simulator.snapshot().notifications.count == 10, "portal p\(index)")
        }
        let delivered = try db.query("SELECT count(*) FROM outbox.intents WHERE status = 'delivered'").first!.decode(0, as: Int64.self)
        await cloud.stop()
        try ran.get()
        #expect(delivered == 60)
    }

    @Test func oneWorkerThreadKeepsEveryPortalsCallInFlightAtOnce() async throws {
        try await withHeldPortals(maxInFlight: 16) { _, heldNow in
            // A thread that waited for its call would have one portal's call out, never six.
            let allOut = try await poll(timeout: .seconds(60)) { await heldNow() == Array(repeating: 1, count: 6) }
            let held = await heldNow()
            #expect(allOut, "calls held at each portal: \(held)")
        }
    }

    @Test func callsInFlightStayWithinTheBound() async throws {
        try await withHeldPortals(maxInFlight: 2) { _, heldNow in
            let two = try await poll(timeout: .seconds(60)) { await heldNow().reduce(0, +) == 2 }
            let first = await heldNow()
            #expect(two, "calls held: \(first)")
            // More are due on four other portals, and the thread is free: the bound holds them back.
            try await Task.sleep(for: .milliseconds(500))
            let later = await heldNow()
            #expect(later.reduce(0, +) == 2, "calls held: \(later)")
        }
    }
}
