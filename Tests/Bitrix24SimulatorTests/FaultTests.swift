import AsyncHTTPClient
import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Testing

@Suite("seeded faults, latency and the renamed portal")
struct FaultTests {
    /// What one request looked like from the client's side.
    enum Seen: Hashable { case ok, error500, html502, dropped, timedOut, other(Int) }

    /// Opens the pooled connection through an endpoint without faults, so the first timed
    /// request does not pay for connecting on a busy machine.
    static func warmUp(_ sim: Simulator) async throws {
        _ = try await Wire.send(sim.baseURL.absoluteString + "/_sim/state", method: .GET)
    }

    /// A deadline far beyond any answer on a loaded machine, except the deliberately slow ones.
    static func observe(_ sim: Simulator, message: String, timeout: Duration = .seconds(60)) async -> Seen {
        do {
            let answer = try await Wire.send(
                sim.hook("im.notify.personal.add"), body: PHPForm.encode(["USER_ID": 1, "MESSAGE": .string(message)]),
                contentType: "application/x-www-form-urlencoded", timeout: timeout)
            switch answer.status {
            case 200: return .ok
            case 500 where answer.error == "INTERNAL_SERVER_ERROR": return .error500
            case 502 where answer.contentType == "text/html" && answer.text.contains("502 Bad Gateway"): return .html502
            default: return .other(answer.status)
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            return .timedOut
        } catch {
            return .dropped
        }
    }

    @Test("each kind happens at its seeded rate; after-effect faults stored the effect; a seed repeats")
    func ratesAndEffects() async throws {
        try await Simulator.with({
            $0.rateLimit = nil
            $0.faults.failBefore = 0.1
            $0.faults.failAfter = 0.1
            $0.faults.dropAfter = 0.1
            $0.faults.html502 = 0.1
            $0.faults.slow = 0.05
            // Far beyond the 3 s deadline used below, so a busy machine cannot blur the two.
            $0.faults.slowDelay = .seconds(10)
            $0.faults.seed = 42
        }) { sim in
            let count = 200
            var seen: [Seen] = []
            try await Self.warmUp(sim)
            for i in 0..<count { seen.append(await Self.observe(sim, message: "m\(i)", timeout: .seconds(3))) }
            try await Task.sleep(for: .seconds(10))  // let the slow answers finish
            let state = await sim.snapshot()
            let stored = Set(state.notifications.map(\.message))

            // The client sees each kind exactly as often as the simulator injected it.
            #expect(seen.filter { $0 == .html502 }.count == state.faults[.html502, default: 0])
            #expect(seen.filter { $0 == .dropped }.count == state.faults[.dropAfter, default: 0])
            #expect(seen.filter { $0 == .timedOut }.count == state.faults[.slow, default: 0])
            #expect(seen.filter { $0 == .error500 }.count == state.faults[.failBefore, default: 0] + state.faults[.failAfter, default: 0])
            #expect(!seen.contains { if case .other = $0 { true } else { false } })

            // Each rate is roughly met (10% of 200 = 20).
            for kind in Simulator.Fault.allCases {
                let n = state.faults[kind, default: 0]
                #expect((8...35).contains(n), "\(kind): \(n)")
            }

            // Effects: stored for ok, after-effect faults; never for before-effect ones.
            for (i, outcome) in seen.enumerated() {
                let isStored = stored.contains("m\(i)")
                switch outcome {
                case .ok, .dropped, .timedOut: #expect(isStored, "m\(i) \(outcome)")
                case .html502: #expect(!isStored, "m\(i)")
                default: break
                }
            }
            let stored500 = seen.enumerated().filter { $0.element == .error500 && stored.contains("m\($0.offset)") }.count
            #expect(stored500 == state.faults[.failAfter, default: 0])
            #expect(state.notifications.count == count - state.faults[.failBefore, default: 0] - state.faults[.html502, default: 0])

            // The same seed gives the same sequence after a reset.
            await sim.reset()
            var again: [Seen] = []
            try await Self.warmUp(sim)
            for i in 0..<count { again.append(await Self.observe(sim, message: "m\(i)", timeout: .seconds(3))) }
            #expect(again == seen)
            try await Task.sleep(for: .seconds(10))
        }
    }

    @Test("before-effect failure as a closed connection: no response, nothing stored")
    func closeBeforeReading() async throws {
        try await Simulator.with({
            $0.faults.failBefore = 1
            $0.faults.beforeEffectStyle = .closeConnection
        }) { sim in
            for i in 0..<3 { #expect(await Self.observe(sim, message: "m\(i)") == .dropped) }
            let state = await sim.snapshot()
            #expect(state.notifications.isEmpty && state.faults[.failBefore] == 3)
        }
    }

    @Test("latency delays every REST answer")
    func latency() async throws {
        try await Simulator.with({ $0.latency = .milliseconds(120) }) { sim in
            let clock = ContinuousClock()
            let start = clock.now
            let answer = try await Wire.json(sim.hook("server.time"), [:])
            let elapsed = clock.now - start
            #expect(answer.status == 200)
            #expect(elapsed >= .milliseconds(120))
        }
    }

    @Test("renamed portal: 302 to the new host (another origin); re-POSTing there works")
    func renamed() async throws {
        try await Simulator.with({ $0.renamedTo = "renamed-portal" }) { sim in
            #expect(sim.renamedBaseURL != sim.baseURL)
            let body = PHPForm.encode(["USER_ID": 1, "MESSAGE": "moved"])
            let moved = try await Wire.send(
                sim.hook("im.notify.personal.add") + "?x=1", body: body, contentType: "application/x-www-form-urlencoded")
            #expect(moved.status == 302)
            let location = try #require(moved.location)
            // Same path and query on a new origin: a client re-POSTs to the new host.
            #expect(location == "http://127.0.0.1:\(sim.renamedPort)/rest/1/\(sim.configuration.webhookCode)/im.notify.personal.add?x=1")
            #expect(await sim.snapshot().notifications.isEmpty)

            let again = try await Wire.send(location, body: body, contentType: "application/x-www-form-urlencoded")
            #expect(again.status == 200)
            var state = await sim.snapshot()
            #expect(state.notifications.map(\.message) == ["moved"])
            #expect(state.redirects == 1)

            // OAuth: the token answer names the new address as client_endpoint.
            let oauth = sim.configuration.oauth
            let refreshed = try await Wire.get(
                sim.tokenURL.absoluteString + "?" + PHPForm.encode([
                    "grant_type": "refresh_token", "client_id": .string(oauth.clientID),
                    "client_secret": .string(oauth.clientSecret), "refresh_token": .string(oauth.refreshToken),
                ]))
            #expect(refreshed.json?["client_endpoint"]?.stringValue == sim.renamedBaseURL.absoluteString + "/rest/")

            await sim.rename(to: nil)
            #expect(try await Wire.json(sim.hook("server.time"), [:]).status == 200)
            // The new address keeps answering, renamed or not.
            let renamedHook = sim.renamedBaseURL.absoluteString + "/rest/1/\(sim.configuration.webhookCode)/server.time"
            #expect(try await Wire.json(renamedHook, [:]).status == 200)
            _ = try await Wire.send(sim.baseURL.absoluteString + "/_sim/rename?to=other")
            #expect(try await Wire.json(sim.hook("server.time"), [:]).location?.hasPrefix(sim.renamedBaseURL.absoluteString + "/rest/") == true)
            state = await sim.snapshot()
            #expect(state.redirects == 2)
        }
    }
}
