import AsyncHTTPClient
import Bitrix24
import Bitrix24Simulator
import Foundation
import LocalProcess
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("b24outbox run", .enabled(if: TestEnvironment.hasDatabase))
struct RunCommandTests {
    @Test("serve and worker in one process: events stored, intents delivered, metrics served, SIGTERM exits 0")
    func runServesAndDelivers() async throws {
        var configuration = Simulator.Configuration()
        configuration.rateLimit = nil
        try await Simulator.run(configuration) { simulator in
            let (scratch, db) = try simulatorDatabase(simulator, configuration: configuration)
            let port = try freeLoopbackPort()
            let base = "http://127.0.0.1:\(port)"
            let process = try CLI.spawn([
                "run", "--port", "\(port)", "--concurrency", "2", "--database-url", scratch.conninfo,
            ])
            #expect(try await poll { try await status(of: "\(base)/readyz") == 200 }, "ready")

            _ = try Producer.enqueue((1...20).map { .notification(portal: "sim", user: Int64($0), message: "run \($0)") }, on: db)
            #expect(try await poll {
                try db.query("SELECT count(*) FROM outbox.intents WHERE status = 'delivered'").first!.decode(0, as: Int.self) == 20
            }, "delivered")
            #expect(try await simulator.sendDialogFinish(to: URL(string: "\(base)/bitrix24/events")!) == 200)

            let metrics = try await body(of: "\(base)/metrics")
            #expect(metrics.contains(#"b24outbox_deliveries_total{portal="sim",outcome="delivered"} 20"#), "\(metrics)")
            #expect(metrics.contains(#"b24outbox_inbound_events_total{type="ONIMCONNECTORDIALOGFINISH",outcome="stored"} 1"#))

            process.signal(SIGTERM)
            let output = await process.finish(timeout: .seconds(30))
            #expect(output.status == 0, "\(output.stderr)")
            #expect(try db.query("SELECT count(*) FROM outbox.intents WHERE status = 'claimed'").first!.decode(0, as: Int.self) == 0)
            await #expect(throws: (any Error).self, "the port is closed") { _ = try await status(of: "\(base)/healthz") }
        }
    }
}

func status(of url: String) async throws -> Int {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
    _ = try await response.body.collect(upTo: 1 << 20)
    return Int(response.status.code)
}

func body(of url: String) async throws -> String {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
    return String(buffer: try await response.body.collect(upTo: 16 << 20))
}
