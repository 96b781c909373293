import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Hummingbird
import Logging
import NIOCore
import Testing

@Suite("ONIMCONNECTORDIALOGFINISH events")
struct DialogFinishEventTests {
    /// The seed document's event as PHP sees the form body: every scalar a string.
    static let seed: [String: JSONValue] = [
        "event": "ONIMCONNECTORDIALOGFINISH",
        "event_handler_id": "7",
        "data": [
            "CONNECTOR": "newcustomconnector",
            "LINE": "105",
            "DATA": [
                [
                    "connector": ["connector_id": "newcustomconnector", "line_id": "105", "chat_id": "8", "user_id": "0"],
                    "session": ["id": "3282", "closed": "Y", "parent_id": "0", "close_term": "10"],
                    "chat": ["id": "8"],
                    "user": ["id": "0"],
                ]
            ],
        ],
        "ts": "1714649632",
        "auth": [
            "access_token": "s6p6eclrvim6da22ft9ch94ekreb52lv",
            "expires_in": "3600",
            "scope": "imconnector",
            "domain": "some-domain.bitrix24.com",
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "status": "F",
            "client_endpoint": "https://some-domain.bitrix24.com/rest/",
            "member_id": "a223c6b3710f85df22e9377d6c4f7553",
            "refresh_token": "4s386p3q0tr8dy89xvmt96234v3dljg8",
            "application_token": "51856fefc120afa4b628cc82d3935cce",
        ],
    ]

    static var seedEvent: OutgoingDialogFinish {
        var event = OutgoingDialogFinish(
            auth: .init(
                domain: "some-domain.bitrix24.com", memberID: "a223c6b3710f85df22e9377d6c4f7553",
                applicationToken: "51856fefc120afa4b628cc82d3935cce", accessToken: "s6p6eclrvim6da22ft9ch94ekreb52lv",
                refreshToken: "4s386p3q0tr8dy89xvmt96234v3dljg8"))
        event.ts = 1_714_649_632
        return event
    }

    @Test("the form body decodes back into the seed's structure")
    func bodyMatchesSeed() throws {
        let body = Self.seedEvent.formBody
        #expect(try PHPForm.decode(body) == Self.seed)
        // http_build_query style: brackets encoded, portal key order.
        #expect(body.hasPrefix("event=ONIMCONNECTORDIALOGFINISH&event_handler_id=7&data%5BCONNECTOR%5D=newcustomconnector&data%5BLINE%5D=105&data%5BDATA%5D%5B0%5D%5Bconnector%5D%5Bconnector_id%5D="))
        #expect(body.hasSuffix("&auth%5Bapplication_token%5D=51856fefc120afa4b628cc82d3935cce"))
    }

    @Test("the simulator posts the event form-encoded to a handler, with its identity and tokens")
    func sendsToHandler() async throws {
        let inbox = Inbox()
        let router = Router()
        router.post("/handler") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 20)
            await inbox.add(contentType: request.headers[.contentType], body: String(buffer: body))
            return .ok
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var quiet = Logger(label: "handler")
        quiet.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: quiet)
        let server = Task { try await app.run() }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        try await Simulator.with { sim in
            let status = try await sim.sendDialogFinish(to: URL(string: "http://127.0.0.1:\(port)/handler")!, chatID: 77, sessionID: 9001)
            #expect(status == 200)
            let received = await inbox.items
            #expect(received.count == 1)
            #expect(received.first?.contentType == "application/x-www-form-urlencoded")
            let decoded = try PHPForm.decode(try #require(received.first?.body))
            #expect(decoded["event"] == "ONIMCONNECTORDIALOGFINISH")
            #expect(decoded["data"]?["DATA"]?[0]?["chat"]?["id"] == "77")
            #expect(decoded["data"]?["DATA"]?[0]?["session"]?["id"] == "9001")
            #expect(decoded["auth"]?["application_token"]?.stringValue == sim.configuration.applicationToken)
            #expect(decoded["auth"]?["member_id"]?.stringValue == sim.configuration.memberID)
            #expect(decoded["auth"]?["access_token"]?.stringValue == sim.configuration.oauth.accessToken)
        }
    }

    actor Inbox {
        var items: [(contentType: String?, body: String)] = []
        func add(contentType: String?, body: String) { items.append((contentType, body)) }
    }
}
