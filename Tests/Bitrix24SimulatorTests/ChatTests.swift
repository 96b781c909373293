import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Testing

@Suite("im.chat.add and im.chat.get")
struct ChatTests {
    @Test("add stores the chat with its entity pair; get finds it by the pair")
    func addAndGet() async throws {
        try await Simulator.with { sim in
            let added = try await Wire.json(
                sim.hook("im.chat.add"),
                [
                    "TYPE": "OPEN", "TITLE": "Deal chat", "DESCRIPTION": "about the deal", "COLOR": "PINK",
                    "MESSAGE": "welcome", "USERS": [103, 547], "ENTITY_TYPE": "CRM", "ENTITY_ID": "DEAL|1663",
                ])
            #expect(added.status == 200)
            let id = try #require(added.result?.intValue)

            let found = try await Wire.json(sim.hook("im.chat.get"), ["ENTITY_TYPE": "CRM", "ENTITY_ID": "DEAL|1663"])
            #expect(found.result == ["ID": .int(id)])

            let missing = try await Wire.json(sim.hook("im.chat.get"), ["ENTITY_TYPE": "CRM", "ENTITY_ID": "DEAL|1"])
            #expect(missing.status == 200)
            #expect(missing.json?["result"] == .null)
            #expect(missing.json?.objectValue?.keys.contains("result") == true)

            let chat = try #require(await sim.snapshot().chats.first)
            #expect(chat.type == "OPEN" && chat.title == "Deal chat" && chat.color == "PINK")
            #expect(chat.users == [1, 103, 547] && chat.ownerID == 1)
        }
    }

    @Test("the entity pair is not unique: a second add makes a second chat")
    func duplicates() async throws {
        try await Simulator.with { sim in
            let pair: JSONValue = ["ENTITY_TYPE": "OUTBOX", "ENTITY_ID": "k-1", "TITLE": "x"]
            let first = try await Wire.json(sim.hook("im.chat.add"), pair).result?.intValue
            let second = try await Wire.form(sim.hook("im.chat.add"), pair.objectValue!).result?.intValue
            #expect(first != nil && second != nil && first != second)
            let state = await sim.snapshot()
            #expect(state.chats(entityType: "OUTBOX", entityID: "k-1").count == 2)
            #expect(state.effects.chatsCreated == 2)
            // get answers the first one
            let found = try await Wire.json(sim.hook("im.chat.get"), ["ENTITY_TYPE": "OUTBOX", "ENTITY_ID": "k-1"])
            #expect(found.result?["ID"]?.intValue == first)
        }
    }

    @Test("form body with USERS[] brackets")
    func formUsers() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.send(
                sim.hook("im.chat.add"), body: "TITLE=f&USERS%5B0%5D=7&USERS%5B1%5D=8", contentType: "application/x-www-form-urlencoded")
            #expect(answer.status == 200)
            #expect(await sim.snapshot().chats.first?.users == [1, 7, 8])
        }
    }

    static let invalid: [(JSONValue, String)] = [
        (["USERS": 5], "INVALID_FORMAT"),
        (["USERS": "1,2"], "INVALID_FORMAT"),
        (["USERS": [["x": 1]]], "INVALID_FORMAT"),
        (["TYPE": "PRIVATE"], "WRONG_REQUEST"),
        (["COLOR": "ORANGE"], "WRONG_REQUEST"),
        (["TITLE": .string(String(repeating: "я", count: 256))], "WRONG_REQUEST"),
        (["ENTITY_TYPE": .string(String(repeating: "E", count: 51))], "WRONG_REQUEST"),
        (["ENTITY_ID": .string(String(repeating: "1", count: 256))], "WRONG_REQUEST"),
    ]

    @Test("validation errors", arguments: invalid)
    func validation(params: JSONValue, code: String) async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(sim.hook("im.chat.add"), params)
            #expect(answer.status == 400)
            #expect(answer.error == code)
            #expect(answer.json?["error_description"]?.stringValue?.isEmpty == false)
            #expect(await sim.snapshot().chats.isEmpty)
        }
    }

    @Test("limits are inclusive: 255-character title, 50-character entity type")
    func limits() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(
                sim.hook("im.chat.add"),
                ["TITLE": .string(String(repeating: "я", count: 255)), "ENTITY_TYPE": .string(String(repeating: "E", count: 50))])
            #expect(answer.status == 200)
        }
    }
}
