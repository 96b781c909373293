import Bitrix24Wire
import Foundation
import Logging
import NIOHTTP1
import Testing

@testable import Bitrix24

@Suite struct ClientTests {
    static let code = "k9x8c7v6b5n4m3l2"
    static let webhook = try! Bitrix24Credentials.webhook("https://old.bitrix24.com/rest/1/\(code)/")

    static func oauth(access: String = "old-access-token", refresh: String? = "old-refresh-token") -> Bitrix24Credentials {
        try! .oauth(
            portal: URL(string: "https://portal.bitrix24.com")!, accessToken: access, refreshToken: refresh,
            clientID: "app.client", clientSecret: "client-secret-value")
    }

    @Test func webhookCallPostsJSONToTheMethodURL() async throws {
        let transport = FakeTransport { _ in jsonResponse(#"{"result":17766,"time":{"start":1,"finish":2,"duration":1}}"#) }
        let client = Bitrix24Client(credentials: Self.webhook, transport: transport)
        let id = try await client.notifyPersonal(userID: 10, message: "Hi", tag: "order-5", attach: [["MESSAGE": "x"]])
        #expect(id == 17766)
        let request = try #require(await transport.log.requests.first)
        #expect(request.method == .POST)
        #expect(request.url.absoluteString == "https://old.bitrix24.com/rest/1/\(Self.code)/im.notify.personal.add")
        #expect(request.headers.first(name: "Content-Type") == "application/json; charset=utf-8")
        #expect(request.bodyJSON == ["USER_ID": 10, "MESSAGE": "Hi", "TAG": "order-5", "ATTACH": [["MESSAGE": "x"]]])
    }

    @Test func oauthCallCarriesTheTokenInTheBody() async throws {
        let transport = FakeTransport { _ in jsonResponse(#"{"result":988}"#) }
        let client = Bitrix24Client(credentials: Self.oauth(), transport: transport)
        let id = try await client.chatAdd(ChatFields(title: "T", users: [1, 2], entityType: "ORDER", entityID: "5"))
        #expect(id == 988)
        let request = try #require(await transport.log.requests.first)
        #expect(request.url.absoluteString == "https://portal.bitrix24.com/rest/im.chat.add")
        #expect(request.bodyJSON?["auth"] == "old-access-token")
        #expect(request.bodyJSON?["USERS"] == [1, 2])
    }

    @Test func typedResultsAndResultFalse() async throws {
        let answers: [String: String] = [
            "im.chat.get": #"{"result":null}"#,
            "im.notify.system.add": #"{"result":false}"#,
            "im.notify.delete": #"{"result":true}"#,
            "im.chat.add": #"{"result":"weird"}"#,
        ]
        let transport = FakeTransport { request in jsonResponse(answers[request.url.lastPathComponent] ?? "{}") }
        let client = Bitrix24Client(credentials: Self.webhook, transport: transport)
        #expect(try await client.chatGet(entityType: "ORDER", entityID: "5") == nil)
        #expect(try await client.notifyDelete(tag: "t"))
        do throws(Bitrix24Error) {
            _ = try await client.notifySystem(userID: 999, message: "x")
            Issue.record("false must fail")
        } catch {
            #expect(error.code == .resultFalse)
            #expect(error.failureClass == .permanent)
        }
        do throws(Bitrix24Error) {
            _ = try await client.chatAdd(ChatFields(title: "x"))
            Issue.record("a non-id must fail")
        } catch {
            #expect(error.code == .unexpectedResult)
            #expect(error.failureClass == .ambiguous)
        }
        #expect(try Bitrix24Client.chatID(inChatGetResult: ["ID": 1437]) == 1437)
        #expect(try Bitrix24Client.chatID(inChatGetResult: ["ID": "1437"]) == 1437)
        #expect(try Bitrix24Client.chatID(inChatGetResult: .null) == nil)
        // Only null says "no such chat"; anything else unreadable must not lead to a creation.
        for unreadable: JSONValue in [false, true, 0, "1437", [], ["ID": 0], ["ID": -1], ["ID": "x"], ["CHAT": 5]] {
            #expect(throws: Bitrix24Error.self, "\(unreadable)") { try Bitrix24Client.chatID(inChatGetResult: unreadable) }
        }
    }

    @Test func tenConcurrentExpiredCallsShareOneRefresh() async throws {
        let refreshes = Counter()
        let transport = FakeTransport { request in
            if request.method == .GET {
                await refreshes.increment(request.url.query ?? "")
                try? await Task.sleep(for: .milliseconds(100))
                return jsonResponse(
                    #"{"access_token":"new-access-token","refresh_token":"new-refresh-token","expires":1714653232,"expires_in":3600,"member_id":"m1","client_endpoint":"https://portal.bitrix24.com/rest/","scope":"im"}"#)
            }
            if request.bodyJSON?["auth"] == "new-access-token" { return jsonResponse(#"{"result":5}"#) }
            return jsonResponse(401, #"{"error":"expired_token","error_description":"The access token provided has expired."}"#)
        }
        let persisted = Counter()
        let client = Bitrix24Client(
            credentials: Self.oauth(), transport: transport,
            onTokensRefreshed: { tokens in await persisted.increment(tokens.refreshToken) })
        let ids = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<10 { group.addTask { try await client.notifyPersonal(userID: Int64(i + 1), message: "m") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(ids == Array(repeating: 5, count: 10))
        #expect(await refreshes.value == 1)
        #expect(await persisted.items == ["new-refresh-token"])
        let query = try #require(await refreshes.items.first)
        #expect(query == "client_id=app.client&client_secret=client-secret-value&grant_type=refresh_token&refresh_token=old-refresh-token")
        let refreshURL = try #require(await transport.log.requests.first { $0.method == .GET }?.url)
        #expect(refreshURL.absoluteString.hasPrefix("https://oauth.bitrix.info/oauth/token/?"))
        let current = await client.credentials
        #expect(current.accessToken == "new-access-token")
        #expect(current.refreshToken == "new-refresh-token")
        // Each call went out at most twice: once with the old token, once with the new one.
        #expect(await transport.log.count <= 21)
    }

    @Test func aTokenAlreadyReplacedIsNotRefreshedAgain() async throws {
        let refreshes = Counter()
        let store = CredentialStore(credentials: Self.oauth()) { secrets, _ in
            await refreshes.increment()
            return OAuthTokens(accessToken: "new-\(secrets.accessToken)", refreshToken: "r2")
        }
        let first = try await store.refreshed(replacing: "old-access-token")
        #expect(first.accessToken == "new-old-access-token")
        // A late failure with the old token gets the current pair, without a second refresh.
        let second = try await store.refreshed(replacing: "old-access-token")
        #expect(second.accessToken == "new-old-access-token")
        #expect(await refreshes.value == 1)
        // A failure with the current token does refresh.
        _ = try await store.refreshed(replacing: "new-old-access-token")
        #expect(await refreshes.value == 2)
    }

    @Test func invalidGrantIsPermanentAndNotRetried() async throws {
        let transport = FakeTransport { request in
            if request.method == .GET {
                return jsonResponse(400, #"{"error":"invalid_grant","error_description":"Invalid grant"}"#)
            }
            return jsonResponse(401, #"{"error":"expired_token","error_description":"expired"}"#)
        }
        let client = Bitrix24Client(credentials: Self.oauth(), transport: transport)
        for _ in 0..<3 {
            do throws(Bitrix24Error) {
                _ = try await client.call("profile")
                Issue.record("must fail")
            } catch {
                #expect(error.code == .invalidGrant)
                #expect(error.failureClass == .permanent)
                #expect(!error.description.contains("old-refresh-token"))
                #expect(!error.description.contains("client-secret-value"))
            }
        }
        let gets = await transport.log.requests.filter { $0.method == .GET }.count
        #expect(gets == 1)
    }

    @Test func expiredTokensThatCannotBeRefreshedArePermanent() async throws {
        let transport = FakeTransport { _ in jsonResponse(401, #"{"error":"EXPIRED_TOKEN","error_description":"expired"}"#) }
        for credentials in [Self.webhook, Self.oauth(refresh: nil)] {
            let client = Bitrix24Client(credentials: credentials, transport: transport)
            do throws(Bitrix24Error) {
                _ = try await client.call("profile")
                Issue.record("must fail")
            } catch {
                #expect(error.code == .expiredToken)
                #expect(error.failureClass == .permanent)
            }
        }
        #expect(await transport.log.requests.allSatisfy { $0.method == .POST })
    }

    @Test func aTokenRejectedAfterRefreshIsNotRefreshedInALoop() async throws {
        let transport = FakeTransport { request in
            if request.method == .GET { return jsonResponse(#"{"access_token":"a2","refresh_token":"r2"}"#) }
            return jsonResponse(401, #"{"error":"invalid_token","error_description":"bad"}"#)
        }
        let client = Bitrix24Client(credentials: Self.oauth(), transport: transport)
        do throws(Bitrix24Error) {
            _ = try await client.call("profile")
            Issue.record("must fail")
        } catch {
            #expect(error.failureClass == .permanent)
        }
        #expect(await transport.log.count == 3)
    }

    @Test func aRenamedPortalIsRePostedAndRemembered() async throws {
        let transport = FakeTransport { request in
            if request.url.host == "old.bitrix24.com" {
                return HTTPResponseData(
                    status: 302, headers: ["Location": "https://new.bitrix24.com/rest/1/\(Self.code)/im.chat.add"])
            }
            return jsonResponse(#"{"result":42}"#)
        }
        let moves = Counter()
        let client = Bitrix24Client(
            credentials: Self.webhook, transport: transport, onPortalMoved: { url in await moves.increment(url.absoluteString) })
        let response = try await client.call("im.chat.add", params: ["TITLE": "x"])
        #expect(response.result == 42)
        #expect(response.portalMovedTo?.absoluteString == "https://new.bitrix24.com")
        let requests = await transport.log.requests
        #expect(requests.map(\.method) == [.POST, .POST])
        #expect(requests[1].url.absoluteString == "https://new.bitrix24.com/rest/1/\(Self.code)/im.chat.add")
        #expect(requests[1].body == requests[0].body)
        #expect(await moves.items == ["https://new.bitrix24.com"])
        // Later calls go straight to the new address.
        _ = try await client.call("im.chat.add", params: ["TITLE": "y"])
        #expect(await transport.log.requests.last?.url.host == "new.bitrix24.com")
        #expect(await client.credentials.portal.absoluteString == "https://new.bitrix24.com")
        #expect(await moves.value == 1)
    }

    @Test func redirectsThatCannotBeFollowedFail() async throws {
        let cases: [(String?, Bitrix24Error.Code)] = [
            ("http://new.bitrix24.com/rest/x", .invalidResponse),  // downgrade to plain http
            (nil, .invalidResponse),
            ("https://again.bitrix24.com/", .tooManyRedirects),
        ]
        for (location, code) in cases {
            let transport = FakeTransport { _ in
                HTTPResponseData(status: 302, headers: location.map { ["Location": $0] } ?? [:])
            }
            let client = Bitrix24Client(credentials: Self.webhook, transport: transport)
            do throws(Bitrix24Error) {
                _ = try await client.call("im.chat.add")
                Issue.record("must fail")
            } catch {
                #expect(error.code == code)
                #expect(error.failureClass == .permanent)
            }
        }
    }

    @Test func secretsNeverReachErrorsOrLogs() async throws {
        let handler = CapturingLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        let html = "<html><title>502 Bad Gateway for /rest/1/\(Self.code)/im.chat.add</title></html>"
        let transport = FakeTransport { request in
            if request.url.lastPathComponent == "profile" { return jsonResponse(#"{"result":{"ID":1}}"#) }
            return HTTPResponseData(status: 502, headers: ["Content-Type": "text/html"], body: Array(html.utf8))
        }
        let client = Bitrix24Client(credentials: Self.webhook, transport: transport, logger: logger)
        _ = try await client.call("profile")
        do throws(Bitrix24Error) {
            _ = try await client.call("im.chat.add")
            Issue.record("must fail")
        } catch {
            #expect(error.failureClass == .ambiguous)
            #expect(error.httpStatus == 502)
            let text = allRenderings(error)
            #expect(!text.contains(Self.code))
            #expect(text.contains("502 Bad Gateway for /rest/1/***/im.chat.add"))
        }
        let lines = handler.lines
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { !$0.contains(Self.code) })
        #expect(lines.contains { $0.contains("b24.code=INVALID_RESPONSE") && $0.contains("b24.method=im.chat.add") })
        #expect(lines.contains { $0.contains("b24.status=200") && $0.contains("b24.portal=old.bitrix24.com") })
    }

    @Test func badMethodNamesAreRefusedBeforeSending() async throws {
        let transport = FakeTransport { _ in jsonResponse(#"{"result":1}"#) }
        let client = Bitrix24Client(credentials: Self.webhook, transport: transport)
        for method in ["", "../../x", "im.chat.add?x=1", "im chat"] {
            await #expect(throws: Bitrix24Error.self) { _ = try await client.call(method) }
        }
        #expect(await transport.log.count == 0)
    }
}
