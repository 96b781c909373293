import Bitrix24Wire
import Foundation
import Testing

@testable import Bitrix24

/// Refreshes ahead of a known expiry, and calls that must end before a deadline.
@Suite struct RefreshAheadTests {
    static func credentials(expiresIn seconds: TimeInterval, lifetime: TimeInterval = 3600) -> Bitrix24Credentials {
        let now = Date()
        return try! .oauth(
            portal: URL(string: "https://portal.bitrix24.com")!, accessToken: "old-access-token",
            refreshToken: "old-refresh-token", clientID: "app.client", clientSecret: "client-secret-value",
            accessTokenExpiresAt: now.addingTimeInterval(seconds), accessTokenIssuedAt: now.addingTimeInterval(seconds - lifetime))
    }

    /// A request timeout of 600 s: calls wait for a new token in the last 150 s of its life
    /// (half the refresh window), so a token with 120 s left is inside that however slow the machine.
    static var slow: Bitrix24Client.Configuration {
        var configuration = Bitrix24Client.Configuration()
        configuration.requestTimeout = .seconds(600)
        return configuration
    }

    /// Answers refreshes (once `latch` opens, when given) and calls with either token.
    static func transport(refreshes: Counter, latch: Latch? = nil) -> FakeTransport {
        FakeTransport { request in
            if request.method == .GET {
                await refreshes.increment()
                await latch?.wait()
                return jsonResponse(#"{"access_token":"new-access-token","refresh_token":"new-refresh-token","expires_in":3600}"#)
            }
            return jsonResponse(#"{"result":7}"#)
        }
    }

    @Test("a token inside its refresh window is refreshed in the background, and calls go on with the old one meanwhile",
          .timeLimit(.minutes(1)))
    func refreshedInTheBackground() async throws {
        let refreshes = Counter()
        let latch = Latch()
        // 200 s left of 3600: inside the 300 s window, far from the expiry. The refresh is held
        // until the calls are done: a call that waited for it would never return.
        let transport = Self.transport(refreshes: refreshes, latch: latch)
        let client = Bitrix24Client(credentials: Self.credentials(expiresIn: 200), transport: transport)
        _ = try await client.notifySystem(userID: 1, message: "a")
        _ = try await client.notifySystem(userID: 1, message: "b")
        #expect(await client.credentials.accessToken == "old-access-token")
        await latch.open()
        while await client.credentials.accessToken != "new-access-token" { try await Task.sleep(for: .milliseconds(20)) }
        #expect(await refreshes.value == 1)
        let auths = await transport.log.requests.filter { $0.method == .POST }.map { $0.bodyJSON?["auth"]?.stringValue }
        #expect(auths == ["old-access-token", "old-access-token"])
        _ = try await client.notifySystem(userID: 1, message: "c")
        #expect(await refreshes.value == 1, "a fresh token is not refreshed again")
        #expect(await transport.log.requests.last?.bodyJSON?["auth"] == "new-access-token")
    }

    @Test("a token far from its expiry is not refreshed, and a short-lived one waits until half its life")
    func notBeforeTheWindow() async throws {
        let refreshes = Counter()
        let transport = Self.transport(refreshes: refreshes)
        let client = Bitrix24Client(credentials: Self.credentials(expiresIn: 1000), transport: transport)
        _ = try await client.notifySystem(userID: 1, message: "a")
        // 40 s left of a 60 s token: more than half its life, though inside 300 s.
        let short = Bitrix24Client(credentials: Self.credentials(expiresIn: 40, lifetime: 60), transport: transport)
        _ = try await short.notifySystem(userID: 1, message: "b")
        try await Task.sleep(for: .milliseconds(100))
        #expect(await refreshes.value == 0)
    }

    @Test("a token about to run out is refreshed before the call is sent, so the portal never refuses it")
    func refreshedFirstWhenAboutToExpire() async throws {
        let refreshes = Counter()
        let transport = Self.transport(refreshes: refreshes)
        let client = Bitrix24Client(credentials: Self.credentials(expiresIn: 120), configuration: Self.slow, transport: transport)
        _ = try await client.notifySystem(userID: 1, message: "a")
        #expect(await refreshes.value == 1)
        let calls = await transport.log.requests.filter { $0.method == .POST }
        #expect(calls.map { $0.bodyJSON?["auth"]?.stringValue } == ["new-access-token"])
    }

    @Test("when the refresh before the expiry fails, the token in hand serves until it expires")
    func theOldTokenServesUntilItExpires() async throws {
        let transport = FakeTransport { request in
            if request.method == .GET { return jsonResponse(400, #"{"error":"invalid_grant","error_description":"Invalid grant"}"#) }
            return jsonResponse(#"{"result":7}"#)
        }
        let client = Bitrix24Client(credentials: Self.credentials(expiresIn: 120), configuration: Self.slow, transport: transport)
        _ = try await client.notifySystem(userID: 1, message: "a")
        let methods = await transport.log.requests.map(\.method)
        #expect(methods == [.GET, .POST])
        #expect(await transport.log.requests.last?.bodyJSON?["auth"] == "old-access-token")
    }

    @Test("no exchange starts that could end after the caller's deadline: the call is not sent")
    func deadlines() async throws {
        let refreshes = Counter()
        let transport = Self.transport(refreshes: refreshes)
        var configuration = Bitrix24Client.Configuration()
        configuration.requestTimeout = .seconds(10)
        let client = Bitrix24Client(credentials: Self.credentials(expiresIn: 3000), configuration: configuration, transport: transport)
        do throws(Bitrix24Error) {
            _ = try await client.call("im.notify.system.add", params: ["USER_ID": 1, "MESSAGE": "x"], deadline: .now + .seconds(5))
            Issue.record("must not be sent")
        } catch {
            #expect(error.code == .noTimeLeft)
            #expect(error.failureClass == .notExecuted)
        }
        // A token that needs refreshing first: neither the refresh nor the call starts.
        let expiring = Bitrix24Client(credentials: Self.credentials(expiresIn: 5), configuration: configuration, transport: transport)
        do throws(Bitrix24Error) {
            _ = try await expiring.batch([BatchCommand(key: "a", method: "im.notify.system.add", params: ["USER_ID": 1, "MESSAGE": "x"])],
                                         deadline: .now + .seconds(5))
            Issue.record("must not be sent")
        } catch {
            #expect(error.code == .noTimeLeft)
            #expect(error.failureClass == .notExecuted)
        }
        #expect(await transport.log.count == 0)
        _ = try await client.call("im.notify.system.add", params: ["USER_ID": 1, "MESSAGE": "x"], deadline: .now + .seconds(11))
        #expect(await transport.log.count == 1)
    }
}

/// Holds whoever waits until it is opened.
actor Latch {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }
}
