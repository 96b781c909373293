import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Testing

/// Reading `event.offline.*` answers, without a portal.
@Suite("offline events: decoding")
struct OfflineEventDecodingTests {
    @Test("a record with every column as text, as the portal prints it")
    func portalRecord() throws {
        let event = try OfflineEvent(
            json: [
                "ID": "12", "TIMESTAMP_X": "2026-11-23T10:00:00+03:00", "EVENT_NAME": "ONIMCONNECTORDIALOGFINISH",
                "EVENT_DATA": ["LINE": "105"], "EVENT_ADDITIONAL": ["user_id": "1"],
                "MESSAGE_ID": "0cc175b9c0f1b6a831c399e269772661", "PROCESS_ID": "", "ERROR": "0",
            ], method: "event.offline.list")
        #expect(event.id == 12)
        #expect(event.timestamp == "2026-11-23T10:00:00+03:00")
        #expect(event.data == ["LINE": "105"])
        #expect(event.additional["user_id"] == "1")
        #expect(event.processID == "" && event.error == false)
    }

    @Test("numbers where the portal writes text are read too; get's records have no process id or error")
    func numbers() throws {
        let event = try OfflineEvent(
            json: ["ID": 12, "EVENT_NAME": "ONCRMLEADADD", "MESSAGE_ID": 1, "EVENT_DATA": false], method: "event.offline.get")
        #expect(event.id == 12 && event.messageID == "1")
        #expect(event.data == false && event.additional == .null)
        #expect(event.processID == nil && event.error == nil && event.timestamp == nil)
        #expect(try OfflineEvent(json: ["ID": "3", "EVENT_NAME": "X", "MESSAGE_ID": "m", "ERROR": 1], method: "m").error == true)
    }

    @Test("a malformed answer is UNEXPECTED_RESULT naming what is wrong, never echoing the record")
    func malformed() throws {
        let cases: [(JSONValue, String)] = [
            (["ID": "x", "EVENT_NAME": "E", "MESSAGE_ID": "m"], "has no positive ID"),
            (["ID": "1", "MESSAGE_ID": "m"], "has no EVENT_NAME"),
            (["ID": "1", "EVENT_NAME": "E"], "has no MESSAGE_ID"),
            (["ID": "1", "EVENT_NAME": "E", "MESSAGE_ID": "m", "ERROR": "secret-ish"], "ERROR that is not 0 or 1"),
            ("a string", "not an object"),
        ]
        for (json, why) in cases {
            #expect {
                _ = try OfflineEvent(json: json, method: "event.offline.get")
            } throws: { error in
                guard let error = error as? Bitrix24Error else { return false }
                return error.code == .unexpectedResult && error.method == "event.offline.get"
                    && (error.errorDescription ?? "").contains(why) && !(error.errorDescription ?? "").contains("secret-ish")
            }
        }
        #expect(throws: Bitrix24Error.self) { try OfflineEvents(json: ["process_id": "p"]) }
        #expect(throws: Bitrix24Error.self) { try OfflineEvents(json: ["events": [["ID": 0]]]) }
        #expect(try OfflineEvents(json: ["process_id": .null, "events": []]) == OfflineEvents(processID: nil, events: []))
    }

    @Test("a queued dialog finish carries the pushed event's data part, numbers as numbers, and decodes the same")
    func dialogFinishData() throws {
        var pushed = OutgoingDialogFinish(auth: .init(domain: "d.bitrix24.test", memberID: "m", applicationToken: "t"))
        pushed.chatID = 8
        pushed.sessionID = 3282
        let data = pushed.data
        #expect(data["LINE"] == 105 && data["DATA"]?[0]?["session"]?["id"] == 3282)
        #expect(data["DATA"]?[0]?["session"]?["closed"] == "Y")
        // The form body's data part is the same tree with every scalar as text.
        let form = try PHPForm.decode(pushed.formBody)
        #expect(form["data"] == Self.asText(data))

        let offline = try DialogFinishEvent(Bitrix24Event(fields: ["event": "ONIMCONNECTORDIALOGFINISH", "data": data]))
        let online = try DialogFinishEvent(Bitrix24Event(formBody: pushed.formBody))
        #expect(offline == online)
    }

    static func asText(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items): return .array(items.map(asText))
        case .object(let members): return .object(members.mapValues(asText))
        default: return .string(value.stringValue ?? "")
        }
    }
}
