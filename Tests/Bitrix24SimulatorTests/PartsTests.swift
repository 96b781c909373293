import Bitrix24
import Bitrix24Wire
import Foundation
import Testing

@testable import Bitrix24Simulator

/// The simulator's pure parts, without HTTP.
@Suite("simulator parts")
struct PartsTests {
    @Test("user sets parse ranges and lists")
    func userSets() {
        let set = UserSet(parsing: "1-10, 42,100-200")
        #expect(set?.contains(1) == true && set?.contains(42) == true && set?.contains(150) == true)
        #expect(set?.contains(11) == false && set?.contains(201) == false)
        #expect(UserSet(parsing: "10-1") == nil && UserSet(parsing: "x") == nil && UserSet(parsing: "") == nil)
        var users = UserSet(1...5)
        users.remove(3)
        #expect(users.description == "1-2,4-5")
    }

    @Test("cmd key order is read off JSON, escapes and nesting included, and off form pairs")
    func commandOrder() {
        let json = #"{"halt":0,"x":{"cmd":{"no":1}},"cmd":{"z\"q":"a?b=1","\u0061":"[{}]","m":"x"},"auth":"t"}"#
        #expect(CommandOrder.fromJSON(Array(json.utf8)) == ["z\"q", "a", "m"])
        #expect(CommandOrder.fromJSON(Array(#"{"cmd":["a","b"]}"#.utf8)) == [])
        #expect(CommandOrder.fromForm("halt=0&cmd%5Bz%5D=a&cmd[b]=c&cmd%5Ba%5D%5B0%5D=x") == ["z", "b", "a"])
    }

    @Test("batch $result references resolve into earlier results")
    func references() {
        let results: [String: JSONValue] = ["chat": 42, "user": ["ID": "7", "DEPT": [3, 4]]]
        #expect(BatchReference.substitute("$result[chat]", results: results) == 42)
        #expect(BatchReference.substitute("id $result[user][ID]!", results: results) == "id 7!")
        #expect(BatchReference.substitute("$result[user][DEPT][1]", results: results) == 4)
        #expect(BatchReference.substitute("$result[missing]", results: results) == "")
        // Text that only looks close is left as it is.
        for text in ["$result", "$$result", "cost $5", "$resul[chat]", "result[chat]", "é$result", ""] {
            #expect(BatchReference.mentionsResult(text) == false, "\(text)")
            #expect(BatchReference.substitute(.string(text), results: results) == .string(text))
        }
        for text in ["$result[", "$$result[chat]", "é $result[chat]", "x$result[user][ID]"] {
            #expect(BatchReference.mentionsResult(text), "\(text)")
        }
    }

    @Test("the leaky bucket admits its capacity, then drains at its rate")
    func bucket() {
        let start = ContinuousClock.now
        var bucket = LeakyBucket(capacity: 3, drainPerSecond: 2, now: start)
        #expect((0..<4).map { _ in bucket.admit(now: start) } == [true, true, true, false])
        #expect(bucket.admit(now: start + .milliseconds(400)) == false)  // drained 0.8
        #expect(bucket.admit(now: start + .milliseconds(500)) == true)  // drained 1
    }

    @Test("the operating budget slides")
    func budget() {
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        var budget = OperatingBudget(window: 600)
        budget.charge("m", seconds: 2, now: t0)
        budget.charge("m", seconds: 3, now: t0.addingTimeInterval(100))
        #expect(budget.used(by: "m", now: t0.addingTimeInterval(200)) == 5)
        #expect(budget.used(by: "other", now: t0) == 0)
        #expect(budget.unblockAt("m", budget: 4, now: t0.addingTimeInterval(200)) == 1_000_600)
        #expect(budget.used(by: "m", now: t0.addingTimeInterval(650)) == 3)
        #expect(budget.resetAt("m", now: t0.addingTimeInterval(650)) == 1_000_700)
    }

    @Test("a fault plan repeats for its seed and meets its rates")
    func faultPlan() {
        var faults = Simulator.Faults()
        faults.failAfter = 0.25
        faults.slow = 0.25
        faults.seed = 9
        var a = FaultPlan(faults)
        var b = FaultPlan(faults)
        let first = (0..<4000).map { _ in a.draw() }
        #expect(first == (0..<4000).map { _ in b.draw() })
        let failAfter = first.filter { $0 == .failAfter }.count
        let slow = first.filter { $0 == .slow }.count
        #expect((900...1100).contains(failAfter) && (900...1100).contains(slow))
        #expect(first.filter { $0 == nil }.count + failAfter + slow == 4000)
    }

    @Test("a second simulator on a taken port fails to start instead of hanging")
    func portTaken() async throws {
        try await Simulator.with { sim in
            var configuration = Simulator.Configuration()
            configuration.port = sim.port
            await #expect(throws: (any Error).self) { _ = try await Simulator.start(configuration) }
        }
    }

    @Test("MD5 gives RFC 1321's test values; MESSAGE_ID is md5 of the name, '|' and the data's JSON")
    func md5() {
        #expect(MD5.hex("") == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(MD5.hex("abc") == "900150983cd24fb0d6963f7d28e17f72")
        #expect(MD5.hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0")
        #expect(
            MD5.hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890")
                == "57edf4a22be3c955ac49da2e2107b67a")
        #expect(OfflineEventQueue.messageID(name: "E", data: ["A": 1]) == MD5.hex("E|{\"A\":1}"))
    }
}
