import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Testing

@Suite("im.notify.personal.add, im.notify.system.add, im.notify.delete")
struct NotificationTests {
    @Test("the same TAG twice to one user leaves one visible notification with a new id")
    func tagReplacesForSameUser() async throws {
        try await Simulator.with { sim in
            let first = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 10, "MESSAGE": "one", "TAG": "order-1"])
            let second = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 10, "MESSAGE": "two", "TAG": "order-1"])
            let firstID = try #require(first.result?.intValue)
            let secondID = try #require(second.result?.intValue)
            #expect(secondID != firstID)
            let state = await sim.snapshot()
            #expect(state.notifications(for: 10).map(\.id) == [secondID])
            #expect(state.notifications(for: 10).first?.message == "two")
            #expect(state.notifications(for: 10).first?.tag == "order-1")
            #expect(state.effects.notificationsCreated == 2 && state.effects.notificationsReplaced == 1)
        }
    }

    @Test("parameter names are read in any case, as the im module reads them; upper case wins a clash")
    func parameterNamesInAnyCase() async throws {
        try await Simulator.with { sim in
            let lower = try await Wire.json(sim.hook("im.notify.personal.add"), ["user_id": 10, "message": "lower", "tag": "t-1"])
            let mixed = try await Wire.json(
                sim.hook("im.notify.personal.add"), ["User_Id": 11, "MESSAGE": "upper", "message": "lower", "Tag": "t-2"])
            #expect(lower.result?.intValue != nil && mixed.result?.intValue != nil)
            let state = await sim.snapshot()
            #expect(state.notifications(for: 10).map(\.message) == ["lower"])
            #expect(state.notifications(for: 10).first?.tag == "t-1")
            #expect(state.notifications(for: 11).map(\.message) == ["upper"])
            #expect(state.notifications(for: 11).first?.tag == "t-2")
        }
    }

    @Test("thousands of replacements by TAG: the latest stays, and ids still find notifications")
    func manyReplacements() async throws {
        try await Simulator.with({ $0.rateLimit = nil }) { sim in
            func replace(rounds: Range<Int>) async throws {
                for round in rounds {
                    var commands: [String: JSONValue] = [:]
                    for i in 0..<50 {
                        commands["c\(i)"] = .string("im.notify.personal.add?" + PHPForm.encode(
                            ["USER_ID": 10, "MESSAGE": .string("m\(round * 50 + i)"), "TAG": "same"]))
                    }
                    let answer = try await Wire.json(sim.hook("batch"), ["halt": 0, "cmd": .object(commands)])
                    #expect(answer.status == 200)
                }
            }
            // The store drops the run of replaced ones before the kept one, then goes on.
            try await replace(rounds: 0..<30)
            let keep = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 11, "MESSAGE": "kept", "TAG": "other"])
            let keptID = try #require(keep.result?.intValue)
            try await replace(rounds: 30..<50)
            let latest = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 10, "MESSAGE": "last", "TAG": "same"])
            let latestID = try #require(latest.result?.intValue)
            let state = await sim.snapshot()
            #expect(state.notifications(for: 10).map(\.message) == ["last"])
            #expect(state.notifications.map(\.id) == [keptID, latestID])
            #expect(state.effects.notificationsReplaced == 2_500)
            let deleted = try await Wire.json(sim.hook("im.notify.delete"), ["ID": .int(keptID)])
            #expect(deleted.result == .bool(true))
            let again = try await Wire.json(sim.hook("im.notify.delete"), ["ID": .int(keptID)])
            #expect(again.result == .bool(false))
            #expect(await sim.snapshot().notifications.map(\.id) == [latestID])
        }
    }

    @Test("the same TAG to two users leaves two notifications")
    func tagIsPerRecipient() async throws {
        try await Simulator.with { sim in
            for user in [10, 11] {
                let answer = try await Wire.json(sim.hook("im.notify.system.add"), ["USER_ID": .int(Int64(user)), "MESSAGE": "m", "TAG": "t"])
                #expect(answer.status == 200)
            }
            let state = await sim.snapshot()
            #expect(state.notifications.count == 2)
            #expect(Set(state.notifications.map(\.userID)) == [10, 11])
        }
    }

    @Test("without TAG every send is a new notification; the sender is the calling user")
    func untagged() async throws {
        try await Simulator.with { sim in
            for _ in 0..<3 {
                _ = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 4, "MESSAGE": "m"])
            }
            let stored = await sim.snapshot().notifications(for: 4)
            #expect(stored.count == 3)
            #expect(stored.allSatisfy { $0.authorID == 1 && $0.kind == .personal && $0.tag == nil })
        }
    }

    @Test("unknown or inactive user: result false with HTTP 200, nothing stored")
    func unknownUser() async throws {
        try await Simulator.with({ $0.users = UserSet(1...100) }) { sim in
            let unknown = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 5000, "MESSAGE": "m"])
            #expect(unknown.status == 200)
            #expect(unknown.result == false)
            await sim.setUser(7, active: false)
            let inactive = try await Wire.json(sim.hook("im.notify.system.add"), ["USER_ID": 7, "MESSAGE": "m"])
            #expect(inactive.result == false)
            let state = await sim.snapshot()
            #expect(state.notifications.isEmpty)
            #expect(state.effects.notificationsRefused == 2)
        }
    }

    static let invalid: [(JSONValue, String)] = {
        [
            (["MESSAGE": "m"], "USER_ID_EMPTY"),
            (["USER_ID": "abc", "MESSAGE": "m"], "USER_ID_EMPTY"),
            (["USER_ID": 1], "MESSAGE_EMPTY"),
            (["USER_ID": 1, "MESSAGE": "   "], "MESSAGE_EMPTY"),
            (["USER_ID": 1, "MESSAGE": "m", "ATTACH": [["UNKNOWN": "x"]]], "ATTACH_ERROR"),
            (["USER_ID": 1, "MESSAGE": "m", "ATTACH": [["MESSAGE": "a", "LINK": ["LINK": "http://x"]]]], "ATTACH_ERROR"),
            (["USER_ID": 1, "MESSAGE": "m", "ATTACH": ["BLOCKS": "nope"]], "ATTACH_ERROR"),
            (["USER_ID": 1, "MESSAGE": "m", "ATTACH": [["LINK": ["NAME": "no link"]]]], "ATTACH_ERROR"),
            (["USER_ID": 1, "MESSAGE": "m", "ATTACH": [["GRID": [["NAME": "n", "VALUE": "v"]]]]], "ATTACH_ERROR"),
            (["USER_ID": 1, "MESSAGE": "m", "ATTACH": ["COLOR_TOKEN": "purple", "BLOCKS": [["MESSAGE": "x"]]]], "ATTACH_ERROR"),
            (["USER_ID": 1, "MESSAGE": "m", "ATTACH": "{broken"], "ATTACH_ERROR"),
        ]
    }()

    @Test("validation errors are HTTP 400 and store nothing", arguments: invalid)
    func validation(params: JSONValue, code: String) async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(sim.hook("im.notify.personal.add"), params)
            #expect(answer.status == 400)
            #expect(answer.error == code)
            #expect(await sim.snapshot().notifications.isEmpty)
        }
    }

    @Test("an attachment over 60,000 serialized characters is ATTACH_OVERSIZE; just under passes")
    func oversize() async throws {
        try await Simulator.with { sim in
            // `[{"MESSAGE":"…"}]` adds 16 characters around the text.
            let over = try await Wire.json(
                sim.hook("im.notify.personal.add"),
                ["USER_ID": 1, "MESSAGE": "m", "ATTACH": [["MESSAGE": .string(String(repeating: "x", count: 59_985))]]])
            #expect(over.status == 400 && over.error == "ATTACH_OVERSIZE")
            let fits = try await Wire.json(
                sim.hook("im.notify.personal.add"),
                ["USER_ID": 1, "MESSAGE": "m", "ATTACH": [["MESSAGE": .string(String(repeating: "x", count: 59_984))]]])
            #expect(fits.status == 200)
        }
    }

    @Test("valid attachments: object form with BLOCKS, bare list, form brackets, JSON string")
    func attachments() async throws {
        try await Simulator.with { sim in
            let objectForm: JSONValue = [
                "ID": 1, "COLOR_TOKEN": "primary", "COLOR": "#29619b",
                "BLOCKS": [
                    ["MESSAGE": "API will be available"],
                    ["LINK": ["NAME": "Ticket", "LINK": "https://example.test/t/1"]],
                    ["USER": ["NAME": "John"]],
                    ["GRID": [["DISPLAY": "LINE", "NAME": "Owner", "VALUE": "John"]]],
                    ["IMAGE": [["LINK": "https://example.test/a.png"]]],
                    ["FILE": [["LINK": "https://example.test/a.pdf", "NAME": "a.pdf", "SIZE": 1000]]],
                    ["DELIMITER": ["SIZE": 200, "COLOR": "#c2c2c2"]],
                ],
            ]
            let list: JSONValue = [["MESSAGE": "only text"]]
            for attach in [objectForm, list, .string(list.jsonString)] {
                let answer = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 2, "MESSAGE": "m", "ATTACH": attach])
                #expect(answer.status == 200, "\(answer.text)")
            }
            let form = try await Wire.form(
                sim.hook("im.notify.personal.add"),
                ["USER_ID": "2", "MESSAGE": "m", "ATTACH": ["BLOCKS": [["MESSAGE": "hi"], ["DELIMITER": ""]]]])
            #expect(form.status == 200, "\(form.text)")
            #expect(await sim.snapshot().notifications(for: 2).count == 4)
        }
    }

    @Test("im.notify.delete by ID, by TAG for all recipients, by SUB_TAG")
    func delete() async throws {
        try await Simulator.with { sim in
            let token = JSONValue.string(sim.configuration.oauth.accessToken)
            func add(_ user: Int64, tag: String, sub: String) async throws -> Int64? {
                try await Wire.json(
                    sim.oauth("im.notify.personal.add"),
                    ["USER_ID": .int(user), "MESSAGE": "m", "TAG": .string(tag), "SUB_TAG": .string(sub), "auth": token]
                ).result?.intValue
            }
            let a = try #require(try await add(1, tag: "a", sub: "s1"))
            _ = try await add(2, tag: "b", sub: "s1")
            _ = try await add(3, tag: "b", sub: "s2")
            _ = try await add(4, tag: "c", sub: "s2")

            let byID = try await Wire.json(sim.oauth("im.notify.delete"), ["ID": .int(a), "auth": token])
            #expect(byID.result == true)
            let byTag = try await Wire.json(sim.oauth("im.notify.delete"), ["TAG": "b", "auth": token])
            #expect(byTag.result == true)
            #expect(await sim.snapshot().notifications.map(\.userID) == [4])
            let bySub = try await Wire.json(sim.oauth("im.notify.delete"), ["SUB_TAG": "s2", "auth": token])
            #expect(bySub.result == true)
            #expect(await sim.snapshot().notifications.isEmpty)

            let nothing = try await Wire.json(sim.oauth("im.notify.delete"), ["auth": token])
            #expect(nothing.status == 400 && nothing.error == "PARAMS_ERROR")
        }
    }

    @Test("a webhook deletes by TAG only with CLIENT_ID, within that namespace")
    func webhookDeleteByTag() async throws {
        try await Simulator.with { sim in
            _ = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 1, "MESSAGE": "m", "TAG": "t", "CLIENT_ID": "app1"])
            let denied = try await Wire.json(sim.hook("im.notify.delete"), ["TAG": "t"])
            #expect(denied.status == 403 && denied.error == "ACCESS_DENIED")
            let deleted = try await Wire.json(sim.hook("im.notify.delete"), ["TAG": "t", "CLIENT_ID": "app1"])
            #expect(deleted.result == true)
            #expect(await sim.snapshot().notifications.isEmpty)
        }
    }
}
