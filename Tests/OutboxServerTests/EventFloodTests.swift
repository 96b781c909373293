import AsyncHTTPClient
import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import NIOCore
import Outbox
import Postgres
import Synchronization
import Testing
import TestSupport

@Suite("The event endpoint under floods and hostile input", .enabled(if: TestEnvironment.hasDatabase))
struct EventFloodTests {
    @Test("while strangers POST and /metrics is scraped as fast as they can, every genuine event is answered 200 and stored")
    func genuineEventsSurviveAFlood() async throws {
        // The production gauge interval: scrapes share one read per second.
        try await ServerHarness.with(statusInterval: .seconds(1)) { h in
            let c = h.simulator.configuration
            let floodBodies = [
                "event=ONIMCONNECTORDIALOGFINISH&auth[member_id]=stranger-\(UUID())&auth[application_token]=x",
                "event=ONIMCONNECTORDIALOGFINISH&auth[member_id]=\(c.memberID)&auth[application_token]=wrong",
                "event=ONAPPTEST&auth[domain]=nowhere.example.com",
            ]
            let started = ContinuousClock.now
            let readsBefore = h.context.senders.reads, gaugeReadsBefore = h.context.gauges.reads
            let flood = Flood()
            let eventsURL = h.eventsURL, metricsURL = h.url("/metrics")
            let genuine = 100
            let events = await (1...genuine).asyncMap { await h.simulator.dialogFinishEvent(chatID: 8, sessionID: Int64($0)) }
            let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                for lane in 0..<6 {
                    group.addTask {
                        var i = lane
                        while !flood.stop.load(ordering: .relaxed) {
                            if lane % 3 == 2 {
                                _ = try await Self.send(HTTPClientRequest(url: metricsURL))
                                flood.scrapes.add(1, ordering: .relaxed)
                            } else {
                                var request = HTTPClientRequest(url: eventsURL.absoluteString)
                                request.method = .POST
                                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                                request.body = .bytes(ByteBuffer(string: floodBodies[i % floodBodies.count]))
                                if try await Self.send(request) == 401 { flood.refused.add(1, ordering: .relaxed) }
                            }
                            i += 1
                        }
                        return []
                    }
                }
                group.addTask {
                    defer { flood.stop.store(true, ordering: .relaxed) }
                    // Let the flood build up first.
                    try await Task.sleep(for: .milliseconds(500))
                    var statuses: [Int] = []
                    for event in events {
                        statuses.append(try await EventSender().send(event, to: eventsURL))
                    }
                    return statuses
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let seconds = (ContinuousClock.now - started).inSeconds
            #expect(statuses.count == genuine)
            #expect(statuses.allSatisfy { $0 == 200 }, "\(Set(statuses))")
            #expect(try h.storedEvents == genuine)
            #expect(flood.refused.load(ordering: .relaxed) > 50, "the flood was real: \(flood.refused.load(ordering: .relaxed)) refused")
            #expect(flood.scrapes.load(ordering: .relaxed) > 20, "the scrapes were real: \(flood.scrapes.load(ordering: .relaxed))")
            // Strangers share spaced reads of the portals (one per 250 ms at most), and scrapes one
            // read of the gauges per second, however many of them come.
            let reads = h.context.senders.reads - readsBefore, gaugeReads = h.context.gauges.reads - gaugeReadsBefore
            #expect(Double(reads) <= seconds / 0.25 + 2, "\(reads) reads of the portals in \(seconds) s")
            #expect(Double(gaugeReads) <= seconds + 2, "\(gaugeReads) reads of the gauges in \(seconds) s")
        }
    }

    static func send(_ request: HTTPClientRequest) async throws -> Int {
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    @Test("a changed application token and a portal added after a stranger's refusal are read again before refusing")
    func readAgainBeforeRefusing() async throws {
        try await ServerHarness.with { h in
            let c = h.simulator.configuration
            let form = "application/x-www-form-urlencoded"
            func event(member: String, token: String, session: Int) -> String {
                "event=ONIMCONNECTORDIALOGFINISH&data[CONNECTOR]=x&data[LINE]=1&data[DATA][0][chat][id]=8"
                    + "&data[DATA][0][session][id]=\(session)&auth[member_id]=\(member)&auth[application_token]=\(token)"
            }
            #expect(try await h.post(event(member: c.memberID, token: c.applicationToken, session: 1), contentType: form).status == 200)
            // The application was updated: a new token, the cached one is now wrong.
            try h.db.execute("UPDATE outbox.portals SET application_token = 'token-after-update' WHERE name = 'sim'")
            #expect(try await h.post(event(member: c.memberID, token: "token-after-update", session: 2), contentType: form).status == 200)
            #expect(try await h.post(event(member: c.memberID, token: c.applicationToken, session: 3), contentType: form).status == 401)

            // A stranger's member id is refused from the last read while it is recent, with no read ...
            let reads = h.context.senders.reads
            #expect(try await h.post(event(member: "newcomer", token: "newcomer-token", session: 4), contentType: form).status == 401)
            #expect(h.context.senders.reads == reads, "a stranger is refused from the cache")
            try PortalStore.add(PortalRegistration(
                name: "newcomer", credentials: try .webhook(h.simulator.webhookURL, allowInsecureHTTP: true),
                applicationToken: "newcomer-token", memberID: "newcomer", domain: "newcomer.example.com"), on: h.db)
            // ... and once that read is older than SenderDirectory's unknownFor (2 s), read again:
            // the new portal's event is stored.
            try await Task.sleep(for: .milliseconds(2_100))
            #expect(try await h.post(event(member: "newcomer", token: "newcomer-token", session: 5), contentType: form).status == 200)
            #expect(try h.storedEvents == 3)
        }
    }

    @Test("a NUL character in a JSON or form event is stored as U+FFFD, the entry says so, and it is answered 200")
    func nulCharactersAreStored() async throws {
        try await ServerHarness.with { h in
            let c = h.simulator.configuration
            let auth = #""auth": {"member_id": "\#(c.memberID)", "application_token": "\#(c.applicationToken)"}"#
            let json = #"{"event": "ONIMBOTMESSAGEADD", "data": {"TEXT": "a\u0000b", "KEY\u0000": ["\u0000"]}, \#(auth)}"#
            let answer = try await h.post(json, contentType: "application/json")
            #expect(answer.status == 200, "\(answer.body)")
            let form = "event=ONIMBOTMESSAGEADD&data[TEXT]=c%00d&auth[member_id]=\(c.memberID)&auth[application_token]=\(c.applicationToken)"
            let second = try await h.post(form, contentType: "application/x-www-form-urlencoded")
            #expect(second.status == 200, "\(second.body)")
            let rows = try h.db.query("""
                SELECT data->'payload'->'data'->>'TEXT', data->>'nul_replaced', data->'payload'->'data'->'KEY\u{FFFD}'->>0
                  FROM outbox.log WHERE type = 'bitrix.event' ORDER BY seq
                """)
            #expect(rows.count == 2)
            #expect(try rows[0].decode(0, as: String.self) == "a\u{FFFD}b")
            #expect(try rows[0].decode(1, as: String.self) == "true")
            #expect(try rows[0].decode(2, as: String.self) == "\u{FFFD}")
            #expect(try rows[1].decode(0, as: String.self) == "c\u{FFFD}d")
            #expect(try rows[1].decode(1, as: String.self) == "true")
            // The same event again is a redelivery, not a second entry.
            #expect(try await h.post(json, contentType: "application/json").body.contains("duplicate"))
        }
    }

    @Test("an event name outside the known set is counted under the label other")
    func eventLabelsAreBounded() async throws {
        try await ServerHarness.with { h in
            let c = h.simulator.configuration
            for name in ["ONMADEUPEVENT1", "ONMADEUPEVENT2", "ONIMBOTMESSAGEADD"] {
                let form = "event=\(name)&data[X]=1&auth[member_id]=\(c.memberID)&auth[application_token]=\(c.applicationToken)"
                #expect(try await h.post(form, contentType: "application/x-www-form-urlencoded").status == 200)
            }
            let metrics = try PrometheusText(try await h.get("/metrics").body)
            #expect(metrics.value("b24outbox_inbound_events_total", ["type": "other", "outcome": "stored"]) == 2)
            #expect(metrics.value("b24outbox_inbound_events_total", ["type": "ONIMBOTMESSAGEADD", "outcome": "stored"]) == 1)
            #expect(metrics.value("b24outbox_inbound_events_total", ["type": "ONMADEUPEVENT1", "outcome": "stored"]) == nil)
        }
    }

    @Test("too many fields is 413 for a form and for JSON, and the configured limit is the one applied")
    func fieldLimits() async throws {
        try await ServerHarness.with(configure: { $0.maxEventFields = 50 }) { h in
            let c = h.simulator.configuration
            let auth = "auth[member_id]=\(c.memberID)&auth[application_token]=\(c.applicationToken)"
            let fields = (0..<40).map { "data[K\($0)]=1" }.joined(separator: "&")
            #expect(try await h.post("event=X&\(fields)&\(auth)", contentType: "application/x-www-form-urlencoded").status == 200)
            let more = (0..<60).map { "data[K\($0)]=1" }.joined(separator: "&")
            let refused = try await h.post("event=X&\(more)&\(auth)", contentType: "application/x-www-form-urlencoded")
            #expect(refused.status == 413)
            #expect(refused.body.contains("TOO_MANY_FIELDS"), "\(refused.body)")
            let json = #"{"event": "X", "data": ["# + Array(repeating: "1", count: 60).joined(separator: ",") + "]}"
            #expect(try await h.post(json, contentType: "application/json").status == 413)
            #expect(try h.storedEvents == 1)
        }
    }
}

/// What the flooding tasks share.
private final class Flood: Sendable {
    let stop = Atomic<Bool>(false)
    let refused = Atomic<Int>(0)
    let scrapes = Atomic<Int>(0)
}
