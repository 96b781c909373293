import Foundation
import Testing

@testable import Bitrix24

@Suite struct CredentialsTests {
    static let code = "1o2p3q4r5s6t7u8v"

    @Test(arguments: [
        "https://b24-ar17wx.bitrix24.by/rest/1/1o2p3q4r5s6t7u8v/",
        "https://b24-ar17wx.bitrix24.by/rest/1/1o2p3q4r5s6t7u8v",
        "  https://B24-AR17WX.bitrix24.by/rest/1/1o2p3q4r5s6t7u8v/\n",
    ])
    func parsesAWebhookURL(text: String) throws {
        let credentials = try Bitrix24Credentials.webhook(text)
        #expect(credentials.isWebhook)
        #expect(credentials.webhookUserID == 1)
        #expect(credentials.portal.absoluteString == "https://b24-ar17wx.bitrix24.by")
        #expect(credentials.webhookURL?.absoluteString == "https://b24-ar17wx.bitrix24.by/rest/1/\(Self.code)/")
        #expect(credentials.accessToken == nil)
        #expect(!credentials.canRefresh)
        #expect(credentials.description == "https://b24-ar17wx.bitrix24.by/rest/1/***/")
        let url = Bitrix24Client.endpoint("im.notify.personal.add", credentials)
        #expect(url.absoluteString == "https://b24-ar17wx.bitrix24.by/rest/1/\(Self.code)/im.notify.personal.add")
    }

    @Test func plainHTTPOnlyWhenExplicitlyAllowed() throws {
        let text = "http://127.0.0.1:8080/rest/7/\(Self.code)/"
        #expect(throws: Bitrix24Credentials.ParseError.self) { try Bitrix24Credentials.webhook(text) }
        let credentials = try Bitrix24Credentials.webhook(text, allowInsecureHTTP: true)
        #expect(credentials.portal.absoluteString == "http://127.0.0.1:8080")
        #expect(credentials.webhookUserID == 7)
        #expect(Bitrix24Client.endpoint("batch", credentials).absoluteString == "http://127.0.0.1:8080/rest/7/\(Self.code)/batch")
    }

    @Test(arguments: [
        "https://portal.bitrix24.com/rest/1/",
        "https://portal.bitrix24.com/rest/abc/\(code)/",
        "https://portal.bitrix24.com/rest/0/\(code)/",
        "https://portal.bitrix24.com/api/1/\(code)/",
        "https://portal.bitrix24.com/rest/1/\(code)/im.chat.add",
        "https://portal.bitrix24.com/rest/1/\(code)/?x=1",
        "https://user:pass@portal.bitrix24.com/rest/1/\(code)/",
        "ftp://portal.bitrix24.com/rest/1/\(code)/",
        "https:///rest/1/\(code)/",
        "https://portal.bitrix24.com/rest/1/\(code)%2F..%2F/",
        "portal.bitrix24.com/rest/1/\(code)/",
        "http://portal.bitrix24.com/rest/1/\(code)/",
    ])
    func refusesOtherShapesWithoutEchoingTheCode(text: String) {
        do throws(Bitrix24Credentials.ParseError) {
            _ = try Bitrix24Credentials.webhook(text)
            Issue.record("accepted \(text.replacingOccurrences(of: Self.code, with: "…"))")
        } catch {
            #expect(!allRenderings(error).contains(Self.code))
            #expect(!error.description.contains("portal.bitrix24.com"))
        }
    }

    @Test func webhookSecretNeverShows() throws {
        let credentials = try Bitrix24Credentials.webhook("https://portal.bitrix24.com/rest/12/\(Self.code)/")
        let text = allRenderings(credentials)
        #expect(!text.contains(Self.code))
        #expect(text.contains("***"))
        #expect(text.contains("portal.bitrix24.com"))
    }

    @Test func oauthSecretsNeverShow() throws {
        let credentials = try Bitrix24Credentials.oauth(
            portal: URL(string: "https://portal.bitrix24.com/rest/")!, accessToken: "ACCESS-s6p6eclrvim6da22",
            refreshToken: "REFRESH-4s386p3q0tr8dy89", clientID: "app.64d3f0e1a2b3c4.12345678",
            clientSecret: "SECRET-q0tr8dy89xvmt962")
        #expect(credentials.portal.absoluteString == "https://portal.bitrix24.com")
        #expect(credentials.canRefresh)
        let text = allRenderings(credentials)
        for secret in ["ACCESS-s6p6eclrvim6da22", "REFRESH-4s386p3q0tr8dy89", "SECRET-q0tr8dy89xvmt962"] {
            #expect(!text.contains(secret))
        }
        #expect(text.contains("app.64d3f0e1a2b3c4.12345678"))
        #expect(Bitrix24Client.endpoint("im.chat.add", credentials).absoluteString == "https://portal.bitrix24.com/rest/im.chat.add")
    }

    @Test func oauthNeedsAPortalWithoutPathAndAToken() {
        #expect(throws: Bitrix24Credentials.ParseError.self) {
            try Bitrix24Credentials.oauth(portal: URL(string: "https://portal.bitrix24.com/other/")!, accessToken: "a")
        }
        #expect(throws: Bitrix24Credentials.ParseError.self) {
            try Bitrix24Credentials.oauth(portal: URL(string: "https://portal.bitrix24.com")!, accessToken: "")
        }
        let partial = try? Bitrix24Credentials.oauth(
            portal: URL(string: "https://portal.bitrix24.com")!, accessToken: "a", refreshToken: "r", clientID: "", clientSecret: "s")
        #expect(partial?.canRefresh == false)
    }

    @Test func tokensNeverShow() {
        let tokens = OAuthTokens(
            accessToken: "ACCESS-s6p6eclrvim6da22", refreshToken: "REFRESH-4s386p3q0tr8dy89",
            expiresAt: Date(timeIntervalSince1970: 1_714_653_232), memberID: "a223c6b3710f85df22e9377d6c4f7553")
        let text = allRenderings(tokens)
        #expect(!text.contains("ACCESS-s6p6eclrvim6da22"))
        #expect(!text.contains("REFRESH-4s386p3q0tr8dy89"))
        #expect(text.contains("a223c6b3710f85df22e9377d6c4f7553"))
    }

    @Test func scrubbingReplacesSecretsInForeignText() {
        let error = Bitrix24Error(code: .invalidResponse, errorDescription: "GET /rest/1/\(Self.code)/x failed", httpStatus: 502)
        let scrubbed = error.scrubbed(of: [Self.code, "1"])
        #expect(scrubbed.errorDescription == "GET /rest/1/***/x failed")
    }
}
