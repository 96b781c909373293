import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Testing

@Suite("URL forms, bodies and credentials")
struct AuthenticationTests {
    static let timeKeys: Set<String> = [
        "start", "finish", "duration", "processing", "date_start", "date_finish", "operating", "operating_reset_at",
    ]

    @Test("webhook URL with and without .json, JSON and form bodies, query parameters")
    func webhookForms() async throws {
        try await Simulator.with { sim in
            let viaJSON = try await Wire.json(sim.hook("im.notify.personal.add"), ["USER_ID": 5, "MESSAGE": "json"])
            #expect(viaJSON.status == 200)
            #expect(viaJSON.result?.intValue != nil)
            #expect(viaJSON.contentType?.hasPrefix("application/json") == true)
            #expect(Set(viaJSON.json?["time"]?.objectValue?.keys ?? [:].keys) == Self.timeKeys)

            let viaForm = try await Wire.form(sim.hook("im.notify.personal.add.json"), ["USER_ID": "5", "MESSAGE": "form"])
            #expect(viaForm.status == 200)
            #expect(viaForm.result?.intValue != nil)

            let viaQuery = try await Wire.send(sim.hook("im.notify.personal.add") + "?USER_ID=5&MESSAGE=query+text")
            #expect(viaQuery.status == 200)

            let messages = await sim.snapshot().notifications(for: 5).map(\.message)
            #expect(messages == ["json", "form", "query text"])
        }
    }

    @Test("the time block follows the seed documents")
    func timeBlock() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(sim.hook("im.chat.add"), ["TITLE": "t"])
            let time = try #require(answer.json?["time"])
            let start = try #require(time["start"]?.doubleValue)
            let finish = try #require(time["finish"]?.doubleValue)
            #expect(finish >= start)
            #expect(abs(start - Date().timeIntervalSince1970) < 60)
            #expect(time["duration"]?.doubleValue != nil)
            // `2024-10-09T09:21:07+03:00`
            let date = try #require(time["date_start"]?.stringValue)
            #expect(date.count == 25 && date.hasSuffix("+03:00"))
            let resetAt = try #require(time["operating_reset_at"]?.intValue)
            #expect(resetAt >= Int64(start) + 599 && resetAt <= Int64(start) + 601)
        }
    }

    @Test("wrong webhook code or user answers 401 INVALID_CREDENTIALS")
    func wrongWebhook() async throws {
        try await Simulator.with { sim in
            let wrongCode = try await Wire.json(sim.baseURL.absoluteString + "/rest/1/nope/im.chat.get", [:])
            #expect(wrongCode.status == 401)
            #expect(wrongCode.json == ["error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"])
            let wrongUser = try await Wire.json(
                sim.baseURL.absoluteString + "/rest/2/\(sim.configuration.webhookCode)/im.chat.get", [:])
            #expect(wrongUser.status == 401)
            #expect(wrongUser.error == "INVALID_CREDENTIALS")
            #expect(await sim.snapshot().rejected["INVALID_CREDENTIALS"] == 2)
        }
    }

    @Test("unknown method answers 404 ERROR_METHOD_NOT_FOUND")
    func unknownMethod() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.json(sim.hook("crm.deal.nothing"), [:])
            #expect(answer.status == 404)
            #expect(answer.error == "ERROR_METHOD_NOT_FOUND")
        }
    }

    @Test("OAuth: auth in body, in query, as Bearer; with and without .json")
    func oauthForms() async throws {
        try await Simulator.with { sim in
            let token = sim.configuration.oauth.accessToken
            let inBody = try await Wire.json(sim.oauth("im.notify.system.add"), ["USER_ID": 3, "MESSAGE": "a", "auth": .string(token)])
            #expect(inBody.status == 200)
            let inForm = try await Wire.form(sim.oauth("im.notify.system.add.json"), ["USER_ID": 3, "MESSAGE": "b", "auth": .string(token)])
            #expect(inForm.status == 200)
            let inQuery = try await Wire.json(sim.oauth("im.notify.system.add") + "?auth=\(token)", ["USER_ID": 3, "MESSAGE": "c"])
            #expect(inQuery.status == 200)
            let bearer = try await Wire.json(
                sim.oauth("im.notify.system.add.json"), ["USER_ID": 3, "MESSAGE": "d"],
                headers: [("Authorization", "Bearer \(token)")])
            #expect(bearer.status == 200)
            let stored = await sim.snapshot().notifications(for: 3)
            #expect(stored.map(\.message) == ["a", "b", "c", "d"])
            #expect(stored.allSatisfy { $0.kind == .system && $0.authorID == 0 && $0.app == sim.configuration.oauth.clientID })
        }
    }

    @Test("OAuth: missing token, unknown token, expired token")
    func oauthErrors() async throws {
        try await Simulator.with { sim in
            let missing = try await Wire.json(sim.oauth("im.chat.get"), [:])
            #expect(missing.status == 401)
            #expect(missing.json == ["error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"])

            let unknown = try await Wire.json(sim.oauth("im.chat.get"), ["auth": "0123456789"])
            #expect(unknown.status == 401)
            #expect(unknown.error == "invalid_token")

            await sim.expireAccessTokens()
            let expired = try await Wire.json(sim.oauth("im.chat.get"), ["auth": .string(sim.configuration.oauth.accessToken)])
            #expect(expired.status == 401)
            #expect(expired.json == ["error": "expired_token", "error_description": "The access token provided has expired."])
        }
    }

    @Test("access tokens expire after the configured lifetime")
    func lifetime() async throws {
        // Long enough that the first call lands inside it even on a loaded machine (the whole
        // suite runs at once on two cores, and its database tests, each migrating a database
        // of its own, block threads of the pool for most of the first minute).
        try await Simulator.with({ $0.oauth.accessTokenLifetime = .seconds(90) }) { sim in
            let token = JSONValue.string(sim.configuration.oauth.accessToken)
            let fresh = try await Wire.json(sim.oauth("im.chat.get"), ["auth": token])
            #expect(fresh.status == 200, "\(fresh.status) \(fresh.text)")
            try await Task.sleep(for: .milliseconds(90_500))
            #expect(try await Wire.json(sim.oauth("im.chat.get"), ["auth": token]).error == "expired_token")
        }
    }

    @Test("a body over the limit gets the proxy's 413 page, and nothing runs")
    func tooLarge() async throws {
        try await Simulator.with({ $0.maxBodyBytes = 1000 }) { sim in
            let answer = try await Wire.json(
                sim.hook("im.notify.personal.add"), ["USER_ID": 1, "MESSAGE": .string(String(repeating: "x", count: 2000))])
            #expect(answer.status == 413 && answer.contentType == "text/html")
            #expect(await sim.snapshot().notifications.isEmpty)
        }
    }

    @Test("malformed JSON body is refused")
    func malformed() async throws {
        try await Simulator.with { sim in
            let answer = try await Wire.send(sim.hook("im.chat.get"), body: "{not json", contentType: "application/json")
            #expect(answer.status == 400)
            #expect(answer.error == "INVALID_REQUEST")
        }
    }
}
