import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Testing

@Suite("OAuth token endpoint")
struct TokenRefreshTests {
    static func refreshURL(_ sim: Simulator, refreshToken: String, secret: String? = nil) -> String {
        let oauth = sim.configuration.oauth
        return sim.tokenURL.absoluteString + "?" + PHPForm.encode([
            "grant_type": "refresh_token", "client_id": .string(oauth.clientID),
            "client_secret": .string(secret ?? oauth.clientSecret), "refresh_token": .string(refreshToken),
        ])
    }

    @Test("a refresh issues a new pair; the old refresh token then gets invalid_grant")
    func refreshRotates() async throws {
        try await Simulator.with { sim in
            let first = try await Wire.get(Self.refreshURL(sim, refreshToken: sim.configuration.oauth.refreshToken))
            #expect(first.status == 200)
            let body = try #require(first.json)
            #expect(
                Set(body.objectValue?.keys ?? [:].keys) == [
                    "access_token", "refresh_token", "expires", "expires_in", "scope", "domain", "server_endpoint",
                    "status", "client_endpoint", "member_id", "user_id",
                ])
            #expect(body["expires_in"] == 3600)
            #expect(body["status"] == "L")
            #expect(body["member_id"]?.stringValue == sim.configuration.memberID)
            #expect(body["client_endpoint"]?.stringValue == sim.restURL.absoluteString)
            let newAccess = try #require(body["access_token"]?.stringValue)
            let newRefresh = try #require(body["refresh_token"]?.stringValue)
            #expect(newRefresh != sim.configuration.oauth.refreshToken)
            let expires = try #require(body["expires"]?.intValue)
            #expect(abs(expires - Int64(Date().timeIntervalSince1970) - 3600) <= 2)

            let reused = try await Wire.get(Self.refreshURL(sim, refreshToken: sim.configuration.oauth.refreshToken))
            #expect(reused.status == 400)
            #expect(reused.json == ["error": "invalid_grant", "error_description": "Invalid refresh token"])

            // The new access token works; the next refresh uses the new refresh token.
            #expect(try await Wire.json(sim.oauth("im.chat.get"), ["auth": .string(newAccess)]).status == 200)
            #expect(try await Wire.get(Self.refreshURL(sim, refreshToken: newRefresh)).status == 200)
            let state = await sim.snapshot()
            #expect(state.refreshes == 2)
            #expect(state.refreshErrors == ["invalid_grant": 1])
        }
    }

    @Test("a refresh whose answer is lost has rotated the pair; a held refresh that is dropped never reached the server")
    func lostAndDroppedRefreshes() async throws {
        try await Simulator.with { sim in
            let base = sim.baseURL.absoluteString
            #expect(try await Wire.send(base + "/_sim/lose-refresh-answers?count=x").status == 400)
            #expect(try await Wire.send(base + "/_sim/lose-refresh-answers?count=1").status == 200)
            let original = sim.configuration.oauth.refreshToken
            await #expect(throws: (any Error).self, "the connection closes without an answer") {
                _ = try await Wire.get(Self.refreshURL(sim, refreshToken: original))
            }
            let rotated = await sim.currentTokens()
            #expect(rotated.refreshToken != original)
            #expect(try await Wire.get(Self.refreshURL(sim, refreshToken: original)).json?["error"] == "invalid_grant")
            #expect(await sim.snapshot().refreshAnswersLost == 1)

            await sim.holdCalls(to: "oauth.token")
            let url = Self.refreshURL(sim, refreshToken: rotated.refreshToken)
            let held = Task { try await Wire.get(url) }
            var waited = 0
            while await sim.heldCallCount(for: "oauth.token") == 0, waited < 300 {
                try await Task.sleep(for: .milliseconds(20))
                waited += 1
            }
            await sim.dropHeldCalls()
            await #expect(throws: (any Error).self) { _ = try await held.value }
            #expect(try await Wire.get(Self.refreshURL(sim, refreshToken: rotated.refreshToken)).status == 200,
                    "the dropped refresh never spent the token")
            let again = await sim.authorizeAgain()
            #expect(try await Wire.get(Self.refreshURL(sim, refreshToken: again.refreshToken)).status == 200)
        }
    }

    @Test("token expires mid-run: expired_token, refresh, then the call goes through")
    func expireMidRun() async throws {
        try await Simulator.with { sim in
            let old = JSONValue.string(sim.configuration.oauth.accessToken)
            #expect(try await Wire.json(sim.oauth("im.notify.personal.add"), ["USER_ID": 1, "MESSAGE": "a", "auth": old]).status == 200)
            await sim.expireAccessTokens()
            let expired = try await Wire.json(sim.oauth("im.notify.personal.add"), ["USER_ID": 1, "MESSAGE": "b", "auth": old])
            #expect(expired.error == "expired_token")
            let refreshed = try await Wire.get(Self.refreshURL(sim, refreshToken: sim.configuration.oauth.refreshToken))
            let access = try #require(refreshed.json?["access_token"])
            #expect(try await Wire.json(sim.oauth("im.notify.personal.add"), ["USER_ID": 1, "MESSAGE": "b", "auth": access]).status == 200)
            #expect(await sim.snapshot().notifications.map(\.message) == ["a", "b"])
            #expect(await sim.currentTokens().accessToken == access.stringValue)
        }
    }

    @Test("wrong client secret: invalid_client; revoked refresh tokens: invalid_grant")
    func errors() async throws {
        try await Simulator.with { sim in
            let wrong = try await Wire.get(Self.refreshURL(sim, refreshToken: sim.configuration.oauth.refreshToken, secret: "bad"))
            #expect(wrong.status == 400 && wrong.error == "invalid_client")
            await sim.revokeRefreshTokens()
            let revoked = try await Wire.get(Self.refreshURL(sim, refreshToken: sim.configuration.oauth.refreshToken))
            #expect(revoked.error == "invalid_grant")
        }
    }
}
