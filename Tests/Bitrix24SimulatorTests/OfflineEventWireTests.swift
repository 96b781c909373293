import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Testing

/// `event.offline.*` on the wire: exactly what the portal answers, to JSON, form and batch bodies.
@Suite("offline events on the wire")
struct OfflineEventWireTests {
    /// An OAuth call with a JSON body.
    static func app(_ sim: Simulator, _ method: String, _ params: [String: JSONValue] = [:]) async throws -> Wire.Answer {
        var body = params
        body["auth"] = .string(sim.configuration.oauth.accessToken)
        return try await Wire.json(sim.oauth(method), .object(body))
    }

    static func queueThree(_ sim: Simulator) async -> [Int64] {
        [
            await sim.queueOfflineEvent(name: "ONCRMLEADADD", data: ["FIELDS": ["ID": 1]], userID: 5),
            await sim.queueOfflineEvent(name: "ONCRMDEALADD", data: ["FIELDS": ["ID": 2]]),
            await sim.queueOfflineEvent(name: "ONCRMLEADADD", data: ["FIELDS": ["ID": 3]]),
        ]
    }

    @Test("records print every column as text; get returns process_id only with clear=0; list has total and next")
    func shapes() async throws {
        try await Simulator.with { sim in
            let ids = await Self.queueThree(sim)
            let get = try await Self.app(sim, "event.offline.get", ["clear": 0, "limit": 1])
            #expect(get.status == 200)
            let result = try #require(get.result)
            #expect(result["process_id"]?.stringValue?.count == 32)
            let event = try #require(result["events"]?[0])
            #expect(event["ID"] == .string(String(ids[0])))
            #expect(event["EVENT_NAME"] == "ONCRMLEADADD")
            #expect(event["EVENT_DATA"] == ["FIELDS": ["ID": 1]])
            #expect(event["EVENT_ADDITIONAL"] == ["user_id": "5"])
            #expect(event["MESSAGE_ID"]?.stringValue?.count == 32)
            #expect(event["TIMESTAMP_X"]?.stringValue?.hasSuffix("+03:00") == true)
            #expect(event["PROCESS_ID"] == nil && event["ERROR"] == nil)

            let list = try await Self.app(sim, "event.offline.list")
            let rows = try #require(list.result?.arrayValue)
            #expect(rows.map { $0["ID"] } == ids.map { .string(String($0)) })
            #expect(rows.map { $0["PROCESS_ID"] } == [result["process_id"], "", ""])
            #expect(rows.map { $0["ERROR"] } == ["0", "0", "0"])
            #expect(rows[1]["EVENT_ADDITIONAL"] == .array([]))
            #expect(list.json?["total"] == 3 && list.json?["next"] == nil)
            #expect(list.json?["time"] != nil)

            // clear=1: process_id null, and the records are gone.
            let lossy = try await Self.app(sim, "event.offline.get", ["limit": 5])
            #expect(lossy.result?["process_id"] == .null)
            #expect(lossy.result?["events"]?.arrayValue?.count == 2)
            #expect(await sim.offlineEvents().count == 1)
        }
    }

    @Test("filter keys with operators survive a form body and a batch command; batches get result_total and result_next")
    func formAndBatch() async throws {
        try await Simulator.with { sim in
            _ = await Self.queueThree(sim)
            _ = try await Self.app(sim, "event.offline.get", ["clear": 0, "limit": 2])
            let token = JSONValue.string(sim.configuration.oauth.accessToken)

            let form = try await Wire.form(sim.oauth("event.offline.list"), ["auth": token, "filter": [">PROCESS_ID": ""]])
            #expect(form.result?.arrayValue?.count == 2)
            let refused = try await Wire.form(sim.oauth("event.offline.list"), ["auth": token, "filter": ["!PROCESS_ID": ""]])
            #expect(refused.status == 400 && refused.error == "ERROR_ARGUMENT")
            #expect(refused.json?["error_description"] == "Filter operation not allowed: !")

            let reserved = BatchCommand(key: "reserved", method: "event.offline.list", params: ["filter": [">PROCESS_ID": ""]])
            let leads = BatchCommand(key: "leads", method: "event.offline.list", params: ["filter": ["%event_name": "lead"]])
            let batch = try await Wire.form(
                sim.oauth("batch"), ["auth": token, "cmd": ["reserved": .string(reserved.query), "leads": .string(leads.query)]])
            let result = try #require(batch.result)
            #expect(result["result"]?["reserved"]?.arrayValue?.count == 2)
            #expect(result["result"]?["leads"]?.arrayValue?.count == 2)
            #expect(result["result_total"] == ["reserved": 2, "leads": 2])
            #expect(result["result_next"] == .array([]))
        }
    }

    @Test("get: filter, order and the fields it allows; with a process id and clear=1 the whole process goes")
    func getRules() async throws {
        try await Simulator.with { sim in
            let ids = await Self.queueThree(sim)
            let desc = try await Self.app(sim, "event.offline.get", ["clear": 0, "order": ["ID": "DESC"], "filter": ["EVENT_NAME": "ONCRMLEADADD"]])
            let processID = try #require(desc.result?["process_id"])
            #expect(desc.result?["events"]?.arrayValue?.map { $0["ID"] } == [ids[2], ids[0]].map { .string(String($0)) })

            let wrongField = try await Self.app(sim, "event.offline.get", ["filter": ["PROCESS_ID": ""]])
            #expect(wrongField.error == "ERROR_ARGUMENT")
            #expect(wrongField.json?["error_description"] == "Filter field not allowed: PROCESS_ID")
            let wrongOrder = try await Self.app(sim, "event.offline.get", ["order": ["ID": "UP"]])
            #expect(wrongOrder.json?["error_description"] == "Order direction should be one of {ASC|DESC}")
            #expect(try await Self.app(sim, "event.offline.get", ["limit": -1]).status == 400)

            // limit 1 reads one record, but clearing takes every record of the process.
            let read = try await Self.app(sim, "event.offline.get", ["process_id": processID, "limit": 1])
            #expect(read.result?["events"]?.arrayValue?.count == 1)
            #expect(read.result?["process_id"] == processID)
            #expect(await sim.offlineEvents().map(\.id) == [ids[1]])
        }
    }

    @Test("clear: process_id is required; message_id wins over id; an empty list clears the whole process")
    func clearRules() async throws {
        try await Simulator.with { sim in
            let ids = await Self.queueThree(sim)
            let get = try await Self.app(sim, "event.offline.get", ["clear": 0])
            let processID = try #require(get.result?["process_id"])
            let messageIDs = await sim.offlineEvents().map(\.messageID)

            let missing = try await Self.app(sim, "event.offline.clear", ["id": [.int(ids[0])]])
            #expect(missing.status == 400 && missing.error == "ERROR_ARGUMENT")
            #expect(try await Self.app(sim, "event.offline.clear", ["process_id": processID, "message_id": ["short"]]).status == 400)
            #expect(try await Self.app(sim, "event.offline.clear", ["process_id": processID, "id": [0]]).status == 400)
            #expect(await sim.offlineEvents().count == 3)

            let both = try await Self.app(
                sim, "event.offline.clear", ["process_id": processID, "message_id": [.string(messageIDs[1])], "id": [.int(ids[0])]])
            #expect(both.result == true)
            #expect(await sim.offlineEvents().map(\.id) == [ids[0], ids[2]])

            #expect(try await Self.app(sim, "event.offline.clear", ["process_id": processID, "id": []]).result == true)
            #expect(await sim.offlineEvents().isEmpty)
        }
    }

    @Test("/_sim/state shows the queue; reset empties it")
    func stateAndReset() async throws {
        try await Simulator.with { sim in
            _ = await Self.queueThree(sim)
            _ = try await Self.app(sim, "event.offline.get", ["clear": 0, "limit": 1])
            let state = try #require(try await Wire.get(sim.baseURL.absoluteString + "/_sim/state").json)
            #expect(state["offlineEvents"] == ["queued": 3, "reserved": 1])
            await sim.reset()
            #expect(await sim.offlineEvents().isEmpty)
            let snapshot = await sim.snapshot()
            #expect(snapshot.offlineEventsQueued == 0 && snapshot.offlineEventsReserved == 0)
        }
    }
}
