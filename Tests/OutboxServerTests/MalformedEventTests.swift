import Bitrix24
import Bitrix24Wire
import Foundation
import Testing
import TestSupport

@Suite("Malformed inbound events", .enabled(if: TestEnvironment.hasDatabase))
struct MalformedEventTests {
    @Test("each malformed event gets its status and an error body, and no table changes")
    func catalogue() async throws {
        try await ServerHarness.with { h in
            let c = h.simulator.configuration
            let auth = "auth[member_id]=\(c.memberID)&auth[application_token]=\(c.applicationToken)"
            let form = "application/x-www-form-urlencoded"
            let json = "application/json"
            let deep = "event=X&" + "data" + String(repeating: "[a]", count: 70) + "=1&" + auth
            let cases: [(name: String, body: String, type: String, status: Int)] = [
                ("empty body", "", form, 400),
                ("empty event name", "event=&" + auth, form, 400),
                ("event name with a space", "event=ON%20IM&" + auth, form, 400),
                ("event name with SQL", "event=ONX%27%3BDROP%20TABLE%20outbox.log&" + auth, form, 400),
                ("JSON array", "[1, 2]", json, 400),
                ("JSON event a list", #"{"event": ["X"]}"#, json, 400),
                ("JSON string", #""ONIMCONNECTORDIALOGFINISH""#, json, 400),
                ("JSON with trailing garbage", #"{"event": "X"} x"#, json, 400),
                ("bad percent-encoding", "event=%ZZ&" + auth, form, 400),
                ("invalid UTF-8", "event=ONX&data[T]=%FF%FE&" + auth, form, 400),
                ("unbalanced brackets", "event=X&data[A=1&" + auth, form, 400),
                ("a key both value and group", "event=X&data=1&data[A]=2&" + auth, form, 400),
                ("key starting with a bracket", "[x]=1&event=X&" + auth, form, 400),
                ("nesting too deep", deep, form, 400),
                ("auth not an object", "event=X&auth=abc", form, 400),
                ("ts not a number", "event=X&ts=yesterday&" + auth, form, 400),
                ("handler id not a number", "event=X&event_handler_id=seven&" + auth, form, 400),
                ("no auth at all", "event=ONAPPTEST&data[A]=1", form, 401),
                ("unknown member id, no domain", "event=X&auth[member_id]=nobody&auth[application_token]=\(c.applicationToken)", form, 401),
                ("empty application token", "event=X&auth[member_id]=\(c.memberID)&auth[application_token]=", form, 401),
                ("multipart body", "--b\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\nX\r\n--b--", "multipart/form-data; boundary=b", 415),
                ("oversized JSON", #"{"event": "X", "data": ""# + String(repeating: "y", count: 1 << 20) + #""}"#, json, 413),
            ]
            let before = try h.everyTableCount()
            for c in cases {
                let answer = try await h.post(c.body, contentType: c.type)
                #expect(answer.status == c.status, "\(c.name): \(answer.body)")
                let error = try? JSONValue(jsonData: Data(answer.body.utf8))
                #expect(error?["error"]?.stringValue?.isEmpty == false, "\(c.name) says what was wrong: \(answer.body)")
            }
            #expect(try h.everyTableCount() == before)
        }
    }
}
