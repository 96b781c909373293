import Foundation
import Testing

@testable import Bitrix24

@Suite struct TokenRefresherTests {
    func decode(_ status: Int, _ body: String) -> Result<OAuthTokens, Bitrix24Error> {
        Result { () throws(Bitrix24Error) -> OAuthTokens in try TokenRefresher.decode(jsonResponse(status, body), method: "oauth.token") }
    }

    @Test func readsTheTokenEndpointAnswer() throws {
        let tokens = try decode(
            200,
            #"{"access_token":"a1","refresh_token":"r1","expires":1714653232,"expires_in":3600,"member_id":"m","client_endpoint":"https://p.bitrix24.com/rest/","server_endpoint":"https://oauth.bitrix.info/rest/","domain":"oauth.bitrix.info","scope":"im,imconnector","status":"L"}"#
        ).get()
        #expect(tokens.accessToken == "a1")
        #expect(tokens.refreshToken == "r1")
        #expect(tokens.expiresAt == Date(timeIntervalSince1970: 1_714_653_232))
        #expect(tokens.expiresIn == 3600)
        #expect(tokens.memberID == "m")
        #expect(tokens.clientEndpoint == "https://p.bitrix24.com/rest/")
        #expect(tokens.scope == "im,imconnector")
    }

    @Test func failuresAreClassified() {
        func failure(_ status: Int, _ body: String) -> Bitrix24Error? {
            if case .failure(let error) = decode(status, body) { return error }
            return nil
        }
        #expect(failure(400, #"{"error":"invalid_grant","error_description":"Invalid grant"}"#)?.failureClass == .permanent)
        #expect(failure(401, #"{"error":"invalid_client"}"#)?.failureClass == .permanent)
        #expect(failure(401, #"{"error":"expired_token"}"#)?.failureClass == .permanent)
        #expect(failure(502, "<html>bad gateway</html>")?.failureClass == .ambiguous)
        // A half answer may mean the old refresh token was spent: ambiguous, and no excerpt that
        // could carry the one token that did arrive.
        let half = failure(200, #"{"access_token":"secret-half-token"}"#)
        #expect(half?.failureClass == .ambiguous)
        #expect(half?.description.contains("secret-half-token") == false)
    }

    @Test func refusesAnInsecureTokenEndpoint() async throws {
        var configuration = Bitrix24Client.Configuration()
        configuration.tokenEndpoint = URL(string: "http://oauth.example.com/oauth/token/")!
        let transport = FakeTransport { _ in jsonResponse(401, #"{"error":"expired_token"}"#) }
        let credentials = try Bitrix24Credentials.oauth(
            portal: URL(string: "https://p.bitrix24.com")!, accessToken: "a", refreshToken: "r", clientID: "c", clientSecret: "s")
        let client = Bitrix24Client(credentials: credentials, configuration: configuration, transport: transport)
        do throws(Bitrix24Error) {
            _ = try await client.call("profile")
            Issue.record("must fail")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.failureClass == .permanent)
        }
        #expect(await transport.log.requests.allSatisfy { $0.method == .POST })
    }

    @Test func aFailedRefreshLeavesTheCallNotExecuted() async throws {
        let transport = FakeTransport { request throws(Bitrix24Error) in
            if request.method == .GET {
                throw Bitrix24Error(code: .timeout, errorDescription: "after sending", failureClass: .ambiguous)
            }
            return jsonResponse(401, #"{"error":"expired_token"}"#)
        }
        let credentials = try Bitrix24Credentials.oauth(
            portal: URL(string: "https://p.bitrix24.com")!, accessToken: "a", refreshToken: "r", clientID: "c", clientSecret: "s")
        let client = Bitrix24Client(credentials: credentials, transport: transport)
        for _ in 0..<2 {
            do throws(Bitrix24Error) {
                _ = try await client.call("profile")
                Issue.record("must fail")
            } catch {
                #expect(error.code == .timeout)
                #expect(error.method == "oauth.token")
                #expect(error.failureClass == .notExecuted)
            }
        }
        // A transient refresh failure does not block the next attempt.
        #expect(await transport.log.requests.filter { $0.method == .GET }.count == 2)
    }

    @Test func explicitRefreshReturnsTheFullPair() async throws {
        let transport = FakeTransport { _ in
            jsonResponse(#"{"access_token":"a2","refresh_token":"r2","expires_in":3600,"member_id":"m"}"#)
        }
        let credentials = try Bitrix24Credentials.oauth(
            portal: URL(string: "https://p.bitrix24.com")!, accessToken: "a1", refreshToken: "r1", clientID: "c", clientSecret: "s")
        let client = Bitrix24Client(credentials: credentials, transport: transport)
        let tokens = try await client.refreshTokens()
        #expect(tokens.accessToken == "a2")
        #expect(tokens.memberID == "m")
        #expect(await client.credentials.refreshToken == "r2")
    }
}
