import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Testing

@Suite("inspection over HTTP")
struct InspectionTests {
    @Test("GET /_sim/state shows notifications per user, chats per entity pair, counters; reset clears")
    func stateAndReset() async throws {
        try await Simulator.with { sim in
            _ = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 10, "MESSAGE": "a", "TAG": "t"])
            _ = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 10, "MESSAGE": "b", "TAG": "t"])
            _ = try await Wire.json(sim.hook("im.chat.add"), ["ENTITY_TYPE": "E", "ENTITY_ID": "1"])
            _ = try await Wire.json(sim.hook("im.chat.add"), ["ENTITY_TYPE": "E", "ENTITY_ID": "1"])
            _ = try await Wire.json(sim.baseURL.absoluteString + "/rest/1/bad/server.time", [:])

            let state = try #require(try await Wire.get(sim.baseURL.absoluteString + "/_sim/state").json)
            #expect(state["requests"] == 5)
            #expect(state["visibleNotifications"] == 1)
            #expect(state["notificationsByUser"]?["10"]?[0]?["message"] == "b")
            #expect(state["notificationsByUser"]?["10"]?[0]?["tag"] == "t")
            #expect(state["chatsByEntity"]?[0]?["chatIds"]?.arrayValue?.count == 2)
            #expect(state["effects"]?["notificationsCreated"] == 2)
            #expect(state["effects"]?["notificationsReplaced"] == 1)
            #expect(state["effects"]?["chatsCreated"] == 2)
            #expect(state["rejected"]?["INVALID_CREDENTIALS"] == 1)
            #expect(state["callsByMethod"]?["im.notify.personal.add"] == 2)

            #expect(try await Wire.send(sim.baseURL.absoluteString + "/_sim/reset").status == 200)
            let cleared = await sim.snapshot()
            #expect(cleared.requests == 0 && cleared.notifications.isEmpty && cleared.chats.isEmpty)
        }
    }

    @Test("POST /_sim/expire-token expires the access token")
    func expireOverHTTP() async throws {
        try await Simulator.with { sim in
            #expect(try await Wire.send(sim.baseURL.absoluteString + "/_sim/expire-token").status == 200)
            let answer = try await Wire.json(sim.oauth("server.time"), ["auth": .string(sim.configuration.oauth.accessToken)])
            #expect(answer.error == "expired_token")
        }
    }
}
