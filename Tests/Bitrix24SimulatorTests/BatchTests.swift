import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Testing

@Suite("batch")
struct BatchTests {
    static func notify(_ user: Int64, _ message: String, tag: String? = nil) -> JSONValue {
        var params: [String: JSONValue] = ["USER_ID": .int(user), "MESSAGE": .string(message)]
        if let tag { params["TAG"] = .string(tag) }
        return .string("im.notify.personal.add?" + PHPForm.encode(params))
    }

    @Test("all succeed: results and times keyed by command, empty parts are []")
    func allSucceed() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(
                sim.hook("batch"), ["halt": 0, "cmd": ["first": Self.notify(1, "a b&c"), "second": Self.notify(2, "d")]])
            #expect(answer.status == 200)
            let result = try #require(answer.result)
            #expect(result["result"]?["first"]?.intValue != nil)
            #expect(result["result"]?["second"]?.intValue != nil)
            #expect(result["result_error"] == .array([]))
            #expect(result["result_total"] == .array([]))
            #expect(result["result_next"] == .array([]))
            let firstTime = try #require(result["result_time"]?["first"]?.objectValue)
            #expect(Set(firstTime.keys) == ["start", "finish", "duration", "processing", "date_start", "date_finish"])
            #expect(answer.json?["time"]?["operating_reset_at"] != nil)
            // PHP json_encode writes these empty arrays literally as [].
            #expect(answer.text.contains("\"result_error\":[]"))
            #expect(await sim.snapshot().notifications.map(\.message) == ["a b&c", "d"])
        }
    }

    @Test("results and times come back in the order the commands were written, as PHP keeps them")
    func answersKeepCommandOrder() async throws {
        try await Simulator.with { sim in
            let commands = [("zeta", Self.notify(1, "z")), ("alpha", Self.notify(2, "a")), ("mid", Self.notify(3, "m"))]
            let cmd = commands.map { "\(JSONValue.string($0.0).jsonString):\($0.1.jsonString)" }.joined(separator: ",")
            let answer = try await Wire.send(sim.hook("batch"), body: #"{"halt":0,"cmd":{"# + cmd + "}}", contentType: "application/json")
            #expect(answer.status == 200)
            let text = answer.text
            func offsets(after part: String) -> [Int] {
                guard let start = text.range(of: "\"\(part)\":{")?.upperBound else { return [] }
                return ["zeta", "alpha", "mid"].map { text[start...].range(of: "\"\($0)\":")?.lowerBound.utf16Offset(in: text) ?? -1 }
            }
            for part in ["result", "result_time"] {
                let found = offsets(after: part)
                #expect(found.count == 3 && !found.contains(-1) && found == found.sorted(), "\(part): \(text)")
            }
            let time = try #require(answer.result?["result_time"]?["alpha"]?.objectValue)
            #expect(Set(time.keys) == ["start", "finish", "duration", "processing", "date_start", "date_finish"])
        }
    }

    @Test("halt=0 runs every command; failures go to result_error")
    func haltZero() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(
                sim.hook("batch"),
                ["halt": 0, "cmd": ["a": Self.notify(1, "x"), "b": "im.notify.personal.add?USER_ID=1", "c": Self.notify(1, "y"), "d": "no.such.method"]])
            let result = try #require(answer.result)
            #expect(result["result"]?.objectValue?.keys.sorted() == ["a", "c"])
            #expect(result["result_error"]?["b"] == ["error": "MESSAGE_EMPTY", "error_description": "Message text is not provided"])
            #expect(result["result_error"]?["d"]?["error"] == "ERROR_METHOD_NOT_FOUND")
            #expect(result["result_time"]?.objectValue?.keys.sorted() == ["a", "c"])
            let state = await sim.snapshot()
            #expect(state.notifications.count == 2)
            #expect(state.commandErrors == ["MESSAGE_EMPTY": 1, "ERROR_METHOD_NOT_FOUND": 1])
        }
    }

    @Test("halt=1 stops at the first failure: later commands are absent")
    func haltOne() async throws {
        try await Simulator.with { sim in
            // Written order z1, a2, b3 (not alphabetical), so the order must come from the wire.
            let body = #"{"halt":1,"cmd":{"z1":"im.notify.personal.add?USER_ID=1&MESSAGE=x","a2":"im.notify.personal.add?MESSAGE=m","b3":"im.notify.personal.add?USER_ID=1&MESSAGE=y"}}"#
            let answer = try await Wire.send(sim.hook("batch"), body: body, contentType: "application/json")
            let result = try #require(answer.result)
            #expect(result["result"]?.objectValue?.keys.sorted() == ["z1"])
            #expect(result["result_error"]?.objectValue?.keys.sorted() == ["a2"])
            #expect(result["result_error"]?["a2"]?["error"] == "USER_ID_EMPTY")
            #expect(await sim.snapshot().notifications.map(\.message) == ["x"])
        }
    }

    @Test("commands run in the order written, so the last of two same-TAG sends wins")
    func order() async throws {
        try await Simulator.with { sim in
            // Keys chosen so that alphabetical order differs from the written order.
            let body = #"{"halt":0,"cmd":{"z":"im.notify.personal.add?USER_ID=1&MESSAGE=first&TAG=t","a":"im.notify.personal.add?USER_ID=1&MESSAGE=second&TAG=t"}}"#
            let answer = try await Wire.send(sim.hook("batch"), body: body, contentType: "application/json")
            #expect(answer.status == 200)
            #expect(await sim.snapshot().notifications.map(\.message) == ["second"])

            let form = "halt=0&cmd%5Bz%5D=" + PHPForm.percentEncode("im.notify.personal.add?USER_ID=2&MESSAGE=first&TAG=t")
                + "&cmd%5Ba%5D=" + PHPForm.percentEncode("im.notify.personal.add?USER_ID=2&MESSAGE=second&TAG=t")
            let viaForm = try await Wire.send(sim.hook("batch"), body: form, contentType: "application/x-www-form-urlencoded")
            #expect(viaForm.status == 200)
            #expect(await sim.snapshot().notifications(for: 2).map(\.message) == ["second"])
        }
    }

    @Test("form body cmd[key]=… and a list of commands answers with PHP lists")
    func formAndList() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.form(
                sim.hook("batch"), ["halt": "0", "cmd": [Self.notify(1, "x"), Self.notify(1, "y")]])
            let result = try #require(answer.result)
            #expect(result["result"]?.arrayValue?.count == 2)
            #expect(result["result_time"]?.arrayValue?.count == 2)
            #expect(result["result_error"] == .array([]))
        }
    }

    @Test("$result references to earlier commands")
    func references() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(
                sim.hook("batch"),
                ["cmd": [
                    "chat": "im.chat.add?TITLE=t&ENTITY_TYPE=E&ENTITY_ID=1",
                    "note": "im.notify.personal.add?USER_ID=1&MESSAGE=chat+%24result%5Bchat%5D+made",
                ]])
            let chatID = try #require(answer.result?["result"]?["chat"]?.intValue)
            #expect(await sim.snapshot().notifications.first?.message == "chat \(chatID) made")
        }
    }

    @Test("more than 50 commands: ERROR_BATCH_LENGTH_EXCEEDED, nothing runs")
    func tooMany() async throws {
        try await Simulator.with { sim in
            var cmd: [String: JSONValue] = [:]
            for i in 0..<51 { cmd["c\(i)"] = Self.notify(1, "m\(i)") }
            let answer = try await Wire.json(sim.hook("batch"), ["cmd": .object(cmd)])
            #expect(answer.status == 400)
            #expect(answer.json == ["error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"])
            #expect(await sim.snapshot().notifications.isEmpty)

            cmd.removeValue(forKey: "c50")
            #expect(try await Wire.json(sim.hook("batch"), ["cmd": .object(cmd)]).status == 200)
            #expect(await sim.snapshot().notifications.count == 50)
        }
    }

    @Test("a batch inside a batch is refused")
    func nested() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(
                sim.hook("batch"), ["cmd": ["inner": "batch?cmd%5Bx%5D=server.time", "ok": "server.time"]])
            #expect(answer.result?["result_error"]?["inner"]?["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED")
            #expect(answer.result?["result"]?["ok"]?.stringValue != nil)
        }
    }

    @Test("OAuth batch: the batch's auth covers every command")
    func oauthBatch() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(
                sim.oauth("batch.json"),
                ["auth": .string(sim.configuration.oauth.accessToken), "cmd": ["a": Self.notify(9, "x")]])
            #expect(answer.result?["result"]?["a"]?.intValue != nil)
            #expect(await sim.snapshot().notifications(for: 9).first?.app == sim.configuration.oauth.clientID)
        }
    }
}
