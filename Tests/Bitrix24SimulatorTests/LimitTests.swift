import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Testing

@Suite("request intensity and operating time")
struct LimitTests {
    @Test("the bucket fills: 503 QUERY_LIMIT_EXCEEDED, refused before running")
    func bucketFills() async throws {
        // A slow drain, so the test's own pace does not matter.
        try await Simulator.with({ $0.rateLimit = .init(capacity: 10, drainPerSecond: 0.01) }) { sim in
            for i in 0..<10 {
                let answer = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 1, "MESSAGE": .string("m\(i)")])
                #expect(answer.status == 200)
            }
            let refused = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 1, "MESSAGE": "over"])
            #expect(refused.status == 503)
            #expect(refused.json == ["error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"])
            let state = await sim.snapshot()
            #expect(state.notifications.count == 10)
            #expect(state.rejected["QUERY_LIMIT_EXCEEDED"] == 1)
        }
    }

    @Test("a batch of 50 commands counts as one request")
    func batchCountsOnce() async throws {
        try await Simulator.with({ $0.rateLimit = .init(capacity: 3, drainPerSecond: 0.01) }) { sim in
            var cmd: [String: JSONValue] = [:]
            for i in 0..<50 { cmd["c\(i)"] = .string("im.notify.personal.add?USER_ID=1&MESSAGE=m\(i)") }
            var statuses: [Int] = []
            for _ in 0..<4 {
                statuses.append(try await Wire.json(sim.hook("batch"), ["cmd": .object(cmd)]).status)
            }
            #expect(statuses == [200, 200, 200, 503])
            #expect(await sim.snapshot().notifications.count == 150)
        }
    }

    @Test("the bucket drains over time")
    func drains() async throws {
        // A slow drain, and the 8 calls sent at once: they meet a refusal unless they arrive over
        // more than 6 s, which a loaded machine's scheduling cannot stretch them to.
        try await Simulator.with({ $0.rateLimit = .init(capacity: 5, drainPerSecond: 0.5) }) { sim in
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 { group.addTask { try await Wire.json(sim.hook("server.time"), [:]).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 503 }.count >= 1, "\(statuses)")
            try await Task.sleep(for: .seconds(11))  // drains 5.5 > capacity
            for _ in 0..<5 {
                #expect(try await Wire.json(sim.hook("server.time"), [:]).status == 200)
            }
        }
    }

    @Test("no rate limit when disabled")
    func disabled() async throws {
        try await Simulator.with({ $0.rateLimit = nil }) { sim in
            var statuses: Set<Int> = []
            for _ in 0..<80 {
                statuses.insert(try await Wire.json(sim.hook("server.time"), [:]).status)
            }
            #expect(statuses == [200])
        }
    }

    @Test("operating time over budget: 429 OPERATION_TIME_LIMIT with operating_reset_at, per method")
    func operatingLimit() async throws {
        try await Simulator.with({ $0.operatingLimit = .init(budget: 3, window: .seconds(600), costPerCall: 1) }) { sim in
            var operating: [Double] = []
            for _ in 0..<3 {
                let answer = try await Wire.json(sim.hook("im.chat.get"), ["ENTITY_TYPE": "X", "ENTITY_ID": "1"])
                #expect(answer.status == 200)
                operating.append(answer.json?["time"]?["operating"]?.doubleValue ?? -1)
            }
            #expect(operating == [1, 2, 3])
            let blocked = try await Wire.json(sim.hook("im.chat.get"), ["ENTITY_TYPE": "X", "ENTITY_ID": "1"])
            #expect(blocked.status == 429)
            #expect(blocked.error == "OPERATION_TIME_LIMIT")
            let resetAt = try #require(blocked.json?["time"]?["operating_reset_at"]?.intValue)
            let now = Int64(Date().timeIntervalSince1970)
            #expect(resetAt > now + 590 && resetAt <= now + 601)
            // Other methods are not blocked.
            #expect(try await Wire.json(sim.hook("server.time"), [:]).status == 200)
            // Inside a batch the blocked method fails alone.
            let batch = try await Wire.json(sim.hook("batch"), ["cmd": ["a": "im.chat.get?ENTITY_TYPE=X&ENTITY_ID=1", "b": "server.time"]])
            #expect(batch.result?["result_error"]?["a"]?["error"] == "OPERATION_TIME_LIMIT")
            #expect(batch.result?["result"]?["b"] != nil)
        }
    }

    @Test("the operating window slides")
    func windowSlides() async throws {
        // A 10 s window: the second call lands inside it even on a loaded machine.
        try await Simulator.with({ $0.operatingLimit = .init(budget: 1, window: .seconds(10), costPerCall: 1) }) { sim in
            #expect(try await Wire.json(sim.hook("server.time"), [:]).status == 200)
            #expect(try await Wire.json(sim.hook("server.time"), [:]).status == 429)
            try await Task.sleep(for: .milliseconds(10_200))
            #expect(try await Wire.json(sim.hook("server.time"), [:]).status == 200)
        }
    }
}
