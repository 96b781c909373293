import Foundation
import Testing

@testable import Bitrix24

/// Scrub first, then cut: a secret that a limit (ours, a proxy's, a server's) cut in half must
/// not survive in an error, and so in `last_error` and the log, which the audit role reads.
@Suite struct RedactionTests {
    static let clientSecret = "CSECRET-q8w7e6r5t4y3u2i1o0p9"
    static let refreshToken = "REFRESH-z1x2c3v4b5n6m7a8s9d0"

    /// True when some 8 characters of `secret` in a row appear in `text`.
    static func leaks(_ secret: String, in text: String) -> Bool {
        let characters = Array(secret)
        return (0...(characters.count - 8)).contains { text.contains(String(characters[$0..<($0 + 8)])) }
    }

    @Test("a proxy page echoing the refresh URL, cut at the excerpt's limit, keeps no part of either secret", arguments: 100...190)
    func proxyPageCutAtTheLimit(padding: Int) throws {
        let url = "https://oauth.bitrix.info/oauth/token/?grant_type=refresh_token&client_id=app.1"
            + "&client_secret=\(Self.clientSecret)&refresh_token=\(Self.refreshToken)"
        // The padding moves the secrets across the 160-character cut, one character at a time.
        let page = "<html><body>Bad gateway " + String(repeating: "x", count: padding) + " while fetching \(url)</body></html>"
        do throws(Bitrix24Error) {
            _ = try Bitrix24Response.decode(method: "oauth/token", status: 502, contentType: "text/html", body: Array(page.utf8),
                                           secrets: [Self.clientSecret, Self.refreshToken])
            Issue.record("a proxy page is an error")
        } catch {
            let text = error.errorDescription ?? ""
            #expect(!Self.leaks(Self.clientSecret, in: text) && !Self.leaks(Self.refreshToken, in: text), "\(text)")
        }
    }

    @Test("an error's text is scrubbed and only then cut, wherever the cut falls", arguments: 270...310)
    func scrubThenCut(offset: Int) {
        let text = String(repeating: "y", count: offset) + Self.refreshToken + " and more text after it"
        let error = Bitrix24Error(code: .transportError, errorDescription: text).scrubbed(of: [Self.refreshToken])
        let scrubbed = error.errorDescription ?? ""
        #expect(!Self.leaks(Self.refreshToken, in: scrubbed), "\(scrubbed)")
        #expect(scrubbed.count <= Redactor.descriptionLimit + 1)
    }

    @Test("what is left of a secret cut short elsewhere is found: its head anywhere, its tail opening the text")
    func fragments() {
        let head = String(Self.clientSecret.prefix(12)), tail = String(Self.clientSecret.suffix(10))
        #expect(Redactor.scrub("upstream said: secret=\(head)", secrets: [Self.clientSecret]) == "upstream said: secret=***")
        #expect(Redactor.scrub("\(tail)&rest", secrets: [Self.clientSecret]) == "***&rest")
        #expect(Redactor.scrub("short CSECRET is fine", secrets: [Self.clientSecret]) == "short CSECRET is fine",
                "fewer than 8 characters of a secret are ordinary text")
    }

    @Test("scrubbing is linear: a text made of near-misses of a secret's head costs a pass, not a pass per match")
    func nearMisses() {
        let nearMiss = String(Self.clientSecret.prefix(7)) + "!"
        let text = String(repeating: nearMiss, count: 4096)
        #expect(Redactor.scrub(text, secrets: [Self.clientSecret]) == text)
        let heads = String(repeating: String(Self.clientSecret.prefix(8)), count: 4096)
        #expect(Redactor.scrub(heads, secrets: [Self.clientSecret]) == String(repeating: "***", count: 4096))
    }
}
