import Bitrix24Wire
import Foundation
import Testing

@testable import Bitrix24

@Suite struct EventTests {
    static let accessToken = "s6p6eclrvim6da22ft9ch94ekreb52lv"
    static let refreshToken = "4s386p3q0tr8dy89xvmt96234v3dljg8"
    static let applicationToken = "51856fefc120afa4b628cc82d3935cce"

    /// The seed document's example, as Bitrix24 posts it: a form with literal PHP brackets.
    static let formBody = [
        "event=ONIMCONNECTORDIALOGFINISH",
        "eventId=1",
        "data[CONNECTOR]=newcustomconnector",
        "data[LINE]=105",
        "data[DATA][0][connector][connector_id]=newcustomconnector",
        "data[DATA][0][connector][line_id]=105",
        "data[DATA][0][connector][chat_id]=8",
        "data[DATA][0][connector][user_id]=0",
        "data[DATA][0][session][id]=3282",
        "data[DATA][0][session][closed]=Y",
        "data[DATA][0][session][parent_id]=0",
        "data[DATA][0][session][close_term]=10",
        "data[DATA][0][chat][id]=8",
        "data[DATA][0][user][id]=0",
        "ts=1714649632",
        "auth[access_token]=\(accessToken)",
        "auth[expires_in]=3600",
        "auth[scope]=imconnector",
        "auth[domain]=some-domain.bitrix24.com",
        "auth[server_endpoint]=https%3A%2F%2Foauth.bitrix.info%2Frest%2F",
        "auth[status]=F",
        "auth[client_endpoint]=https%3A%2F%2Fsome-domain.bitrix24.com%2Frest%2F",
        "auth[member_id]=a223c6b3710f85df22e9377d6c4f7553",
        "auth[refresh_token]=\(refreshToken)",
        "auth[application_token]=\(applicationToken)",
    ].joined(separator: "&")

    /// The same example as JSON, numbers as numbers (LINE is a string in the seed).
    static let jsonBody = """
        {"event": "ONIMCONNECTORDIALOGFINISH", "eventId": 1,
         "data": {"CONNECTOR": "newcustomconnector", "LINE": "105",
                  "DATA": [{"connector": {"connector_id": "newcustomconnector", "line_id": 105, "chat_id": 8, "user_id": 0},
                            "session": {"id": 3282, "closed": "Y", "parent_id": 0, "close_term": 10},
                            "chat": {"id": 8}, "user": {"id": 0}}]},
         "ts": 1714649632,
         "auth": {"access_token": "\(accessToken)", "expires_in": 3600, "scope": "imconnector",
                  "domain": "some-domain.bitrix24.com", "server_endpoint": "https://oauth.bitrix.info/rest/",
                  "status": "F", "client_endpoint": "https://some-domain.bitrix24.com/rest/",
                  "member_id": "a223c6b3710f85df22e9377d6c4f7553", "refresh_token": "\(refreshToken)",
                  "application_token": "\(applicationToken)"}}
        """

    func checkSeedEvent(_ event: Bitrix24Event) throws {
        #expect(event.event == "ONIMCONNECTORDIALOGFINISH")
        #expect(event.eventHandlerID == 1)
        #expect(event.ts == 1_714_649_632)
        #expect(event.auth.domain == "some-domain.bitrix24.com")
        #expect(event.auth.memberID == "a223c6b3710f85df22e9377d6c4f7553")
        #expect(event.auth.applicationToken == Self.applicationToken)
        #expect(event.auth.accessToken == Self.accessToken)
        #expect(event.auth.expiresIn == 3600)
        #expect(event.auth.serverEndpoint == "https://oauth.bitrix.info/rest/")
        #expect(event.auth.clientEndpoint == "https://some-domain.bitrix24.com/rest/")

        let finish = try DialogFinishEvent(event)
        #expect(finish.connector == "newcustomconnector")
        #expect(finish.line == 105)
        #expect(
            finish.sessions == [
                DialogFinishEvent.Session(
                    connector: .init(connectorID: "newcustomconnector", lineID: 105, chatID: 8, userID: "0"),
                    sessionID: 3282, closed: true, parentID: 0, closeTerm: 10, chatID: 8, userID: "0")
            ])

        // Nothing that may be stored or printed carries a token.
        let stored = event.withoutTokens()
        let printed = [stored.jsonString, allRenderings(event), allRenderings(event.auth)].joined()
        for token in [Self.accessToken, Self.refreshToken, Self.applicationToken] {
            #expect(!printed.contains(token))
        }
        #expect(stored["auth"]?["member_id"] == .string("a223c6b3710f85df22e9377d6c4f7553"))
        #expect(stored["auth"]?["access_token"] == nil)
        #expect(stored["data"] == event.data)
    }

    @Test func decodesTheSeedExampleAsAForm() throws {
        try checkSeedEvent(try Bitrix24Event(formBody: Self.formBody))
        try checkSeedEvent(try Bitrix24Event(body: Array(Self.formBody.utf8), contentType: "application/x-www-form-urlencoded"))
    }

    @Test func decodesTheSeedExampleFullyPercentEncoded() throws {
        // http_build_query percent-encodes the brackets too.
        let fields = try PHPForm.decode(Self.formBody)
        let encoded = PHPForm.encode(fields)
        #expect(encoded.contains("data%5BDATA%5D%5B0%5D%5Bsession%5D%5Bclosed%5D=Y"))
        try checkSeedEvent(try Bitrix24Event(formBody: encoded))
    }

    @Test func decodesTheSeedExampleAsJSON() throws {
        try checkSeedEvent(try Bitrix24Event(jsonBody: Array(Self.jsonBody.utf8)))
        try checkSeedEvent(try Bitrix24Event(body: Array(Self.jsonBody.utf8), contentType: "application/json; charset=utf-8"))
        try checkSeedEvent(try Bitrix24Event(body: Array(Self.jsonBody.utf8), contentType: nil))
    }

    @Test func acceptsEventHandlerIDAndLowerCaseNames() throws {
        let event = try Bitrix24Event(formBody: "event=onImConnectorDialogFinish&event_handler_id=7&data[CONNECTOR]=x")
        #expect(event.event == "ONIMCONNECTORDIALOGFINISH")
        #expect(event.eventHandlerID == 7)
        #expect(event.auth.applicationToken == nil && event.auth.domain == nil)
    }

    @Test(arguments: [
        ("data[LINE]=1", "missing event"),
        ("event=", "event must be"),
        ("event=A%20B", "event must be"),
        ("event=X&ts=soon", "ts must be an integer"),
        ("event=X&event_handler_id=abc", "event_handler_id must be an integer"),
        ("event=X&auth=token", "auth must be an object"),
        ("event=X&a=%zz", "invalid percent-encoding"),
    ])
    func explainsMalformedEvents(body: String, reason: String) {
        do throws(Bitrix24Event.DecodingError) {
            _ = try Bitrix24Event(formBody: body)
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.description.contains(reason), "\(error)")
        }
    }

    @Test func explainsMalformedDialogFinishData() throws {
        func reason(_ form: String) -> String? {
            do throws(Bitrix24Event.DecodingError) {
                _ = try DialogFinishEvent(try Bitrix24Event(formBody: form))
                return nil
            } catch {
                return error.reason
            }
        }
        let base = "event=ONIMCONNECTORDIALOGFINISH&data[CONNECTOR]=c&data[LINE]=5"
        let good = "&data[DATA][0][connector][connector_id]=c&data[DATA][0][connector][line_id]=5&data[DATA][0][connector][chat_id]=8&data[DATA][0][session][id]=1&data[DATA][0][session][closed]=N"
        #expect(reason(base + good) == nil)
        #expect(reason("event=OTHER") == "expected ONIMCONNECTORDIALOGFINISH, got OTHER")
        #expect(reason("event=ONIMCONNECTORDIALOGFINISH") == "missing data")
        #expect(reason("event=ONIMCONNECTORDIALOGFINISH&data[LINE]=5") == "missing data.CONNECTOR")
        #expect(reason(base + good.replacingOccurrences(of: "[session][id]=1", with: "[session][id]=x")) == "data.DATA[0].session.id must be an integer")
        #expect(reason(base + good.replacingOccurrences(of: "closed]=N", with: "closed]=maybe")) == "data.DATA[0].session.closed must be Y or N")
        #expect(reason(base + "&data[DATA][0][session][id]=1") == "missing data.DATA[0].connector")
        // Without chat.id the connector's chat id stands in; "N" is open.
        let event = try DialogFinishEvent(try Bitrix24Event(formBody: base + good))
        #expect(event.sessions.first?.chatID == 8)
        #expect(event.sessions.first?.closed == false)
        #expect(event.sessions.first?.userID == nil)
    }

    @Test func applicationTokenComparison() throws {
        let auth = try Bitrix24Event(formBody: Self.formBody).auth
        #expect(auth.applicationTokenMatches(Self.applicationToken))
        #expect(!auth.applicationTokenMatches(Self.applicationToken.uppercased()))
        #expect(!auth.applicationTokenMatches(String(Self.applicationToken.dropLast())))
        #expect(!auth.applicationTokenMatches(Self.applicationToken + "0"))
        #expect(!auth.applicationTokenMatches(""))
        #expect(!(try Bitrix24Event(formBody: "event=X&auth[application_token]=").auth.applicationTokenMatches("")))
        #expect(!(try Bitrix24Event(formBody: "event=X").auth.applicationTokenMatches("t")))
    }

    @Test func stripsTokensAtAnyDepth() {
        let stripped = EventField.strippingTokens([
            "auth": ["ACCESS_TOKEN": "a", "domain": "d"], "data": [["refresh_token": "r", "keep": 1]], "AUTH_ID": "x",
        ])
        #expect(stripped == ["auth": ["domain": "d"], "data": [["keep": 1]]])
    }
}
