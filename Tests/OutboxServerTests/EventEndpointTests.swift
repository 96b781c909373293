import AsyncHTTPClient
import Bitrix24
import Bitrix24Simulator
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("POST /bitrix24/events", .enabled(if: TestEnvironment.hasDatabase))
struct EventEndpointTests {
    @Test("500 dialog-finish events from 20 concurrent senders: all answered 200, all stored; sent again, none stored twice")
    func concurrentEventsStoredOnce() async throws {
        try await ServerHarness.with { h in
            let events = await (1...500).asyncMap { await h.simulator.dialogFinishEvent(chatID: 8, sessionID: Int64($0)) }
            let sender = EventSender()
            let url = h.eventsURL
            for round in 1...2 {
                let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                    for lane in 0..<20 {
                        group.addTask {
                            var statuses: [Int] = []
                            for event in events[lane * 25..<(lane + 1) * 25] {
                                statuses.append(try await sender.send(event, to: url))
                            }
                            return statuses
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(statuses.count == 500, "round \(round)")
                #expect(statuses.allSatisfy { $0 == 200 }, "round \(round): \(Set(statuses))")
                #expect(try h.storedEvents == 500, "round \(round)")
            }
            #expect(try h.count("SELECT count(*) FROM outbox.inbound_events") == 500)
            let sessions = try h.count("""
                SELECT count(DISTINCT (data->'dialog'->'sessions'->0->>'session_id')) FROM outbox.log WHERE type = 'bitrix.event'
                """)
            #expect(sessions == 500)
        }
    }

    @Test("every refusal gets its status and leaves the log unchanged")
    func refusalsWriteNothing() async throws {
        try await ServerHarness.with { h in
            let good = await h.simulator.dialogFinishEvent().formBody
            func replacing(_ token: String, with other: String) -> String {
                good.replacingOccurrences(of: token, with: other)
            }
            let token = h.simulator.configuration.applicationToken
            let memberID = h.simulator.configuration.memberID
            let domain = h.simulator.configuration.domain
            let form = "application/x-www-form-urlencoded"
            let withoutToken = good.split(separator: "&").filter { !$0.hasPrefix("auth%5Bapplication_token%5D=") && !$0.hasPrefix("auth[application_token]=") }
                .joined(separator: "&")
            #expect(withoutToken != good, "the event must carry a token to remove")
            let withoutEvent = good.split(separator: "&").filter { !$0.hasPrefix("event=") }.joined(separator: "&")
            let cases: [(name: String, body: String, type: String?, status: Int)] = [
                ("wrong token", replacing(token, with: String(token.reversed())), form, 401),
                ("missing token", withoutToken, form, 401),
                ("token of another length", replacing(token, with: token + "0"), form, 401),
                ("unknown portal", replacing(memberID, with: "0000000000000000000000000000dead")
                    .replacingOccurrences(of: domain, with: "other.bitrix24.test"), form, 401),
                ("malformed form", "event=ONIMCONNECTORDIALOGFINISH&data[DATA][0]=%E0%A4%A", form, 400),
                ("malformed JSON", "{\"event\": \"ONIMCONNECTORDIALOGFINISH\", ", "application/json", 400),
                ("no event", withoutEvent, form, 400),
                ("oversized body", good + "&data[PAD]=" + String(repeating: "x", count: 1 << 20), form, 413),
                ("wrong content type", good, "text/plain", 415),
                ("no content type", good, nil, 415),
            ]
            let before = try h.logEntries
            for c in cases {
                let answer = try await h.post(c.body, contentType: c.type)
                #expect(answer.status == c.status, "\(c.name): \(answer.body)")
                #expect(answer.body.contains("\"error\""), "\(c.name) explains itself: \(answer.body)")
            }
            #expect(try h.logEntries == before)
            #expect(try h.count("SELECT count(*) FROM outbox.inbound_events") == 0)

            // The same event, untouched, is accepted: the refusals were about what was changed.
            #expect(try await h.post(good, contentType: form).status == 200)
            #expect(try h.storedEvents == 1)
        }
    }

    @Test("a portal named only by its domain is found; JSON bodies are read too")
    func domainAndJSON() async throws {
        try await ServerHarness.with { h in
            let c = h.simulator.configuration
            let json = """
                {"event": "ONAPPTEST", "event_handler_id": 3, "data": {"LANGUAGE_ID": "en"}, "ts": "1714649632",
                 "auth": {"domain": "\(c.domain)", "application_token": "\(c.applicationToken)", "access_token": "jsonaccesstoken"}}
                """
            let answer = try await h.post(json, contentType: "application/json; charset=utf-8")
            #expect(answer.status == 200, "\(answer.body)")
            let stored: String = try h.db.query(
                "SELECT data::text FROM outbox.log WHERE type = 'bitrix.event'").first!.decode(0)
            #expect(stored.contains("ONAPPTEST"))
            #expect(!stored.contains("jsonaccesstoken"))
            #expect(!stored.contains(c.applicationToken))
        }
    }

    @Test("no access or refresh token from any event reaches the database")
    func tokensNeverStored() async throws {
        try await ServerHarness.with { h in
            for session in 1...20 {
                #expect(try await h.simulator.sendDialogFinish(to: h.eventsURL, sessionID: Int64(session)) == 200)
            }
            let tokens = await h.simulator.currentTokens()
            let everything = try h.everyTable()
            #expect(everything.contains("ONIMCONNECTORDIALOGFINISH"), "the scan reads the stored events")
            TestSecrets.expectAbsent([tokens.accessToken, tokens.refreshToken], in: everything, "the database")
            let log: String = try h.db.query("SELECT string_agg(data::text, ' ') FROM outbox.log").first!.decode(0)
            TestSecrets.expectAbsent([h.simulator.configuration.applicationToken], in: log, "the log")
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var values: [T] = []
        for element in self { values.append(try await transform(element)) }
        return values
    }
}
