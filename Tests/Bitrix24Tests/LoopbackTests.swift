import AsyncHTTPClient
import Bitrix24Wire
import Foundation
import NIOHTTP1
import Testing

@testable import Bitrix24

/// The real AsyncHTTPClient transport against a loopback server.
@Suite struct LoopbackTests {
    static let code = "loop1234back5678"

    static func client(
        _ server: LoopbackServer, timeout: Duration = .seconds(5), maxResponseBytes: Int? = nil,
        onPortalMoved: (@Sendable (URL) async -> Void)? = nil
    ) throws -> Bitrix24Client {
        var configuration = Bitrix24Client.Configuration()
        configuration.requestTimeout = timeout
        if let maxResponseBytes { configuration.maxResponseBytes = maxResponseBytes }
        return Bitrix24Client(
            credentials: try .webhook("\(server.origin)/rest/3/\(code)/", allowInsecureHTTP: true),
            configuration: configuration, onPortalMoved: onPortalMoved)
    }

    @Test func postsJSONWithALength() async throws {
        let server = try await LoopbackServer { _ in .respond(.ok, ["Content-Type": "application/json"], #"{"result":77,"time":{"start":1,"finish":2,"duration":1}}"#) }
        let client = try Self.client(server)
        let id = try await client.notifySystem(userID: 5, message: "Привет & hi", tag: "t")
        #expect(id == 77)
        let request = try #require(server.requests.first)
        #expect(request.method == .POST)
        #expect(request.uri == "/rest/3/\(Self.code)/im.notify.system.add")
        #expect(request.headers.first(name: "Content-Type") == "application/json; charset=utf-8")
        #expect(request.headers.first(name: "Content-Length") == "\(request.body.count)")
        #expect(try JSONValue(jsonData: request.body) == ["USER_ID": 5, "MESSAGE": "Привет & hi", "TAG": "t"])
        try await client.shutdown()
        try await server.close()
    }

    @Test func rePostsToAMovedPortal() async throws {
        let target = try await LoopbackServer { _ in .respond(.ok, [:], #"{"result":{"ID":12}}"#) }
        let old = try await LoopbackServer { request in
            .respond(.found, ["Location": "\(target.origin)\(request.uri)"], "<html>moved</html>")
        }
        let moves = Counter()
        let client = try Self.client(old, onPortalMoved: { await moves.increment($0.absoluteString) })
        #expect(try await client.chatGet(entityType: "ORDER", entityID: "9") == 12)
        #expect(old.requests.count == 1)
        #expect(target.requests.map(\.method) == [.POST])
        #expect(target.requests.first?.body == old.requests.first?.body)
        #expect(await moves.items == [target.origin])
        _ = try await client.chatGet(entityType: "ORDER", entityID: "9")
        #expect(old.requests.count == 1)
        #expect(target.requests.count == 2)
        try await client.shutdown()
        try await old.close()
        try await target.close()
    }

    @Test(arguments: [true, false])
    func anAnswerOverTheLimitIsRefused(withLength: Bool) async throws {
        let body = #"{"result":""# + String(repeating: "x", count: 2_000) + #""}"#
        // Without a Content-Length the answer comes chunked, in parts of 500 bytes: the limit is
        // then met part by part.
        let parts = stride(from: 0, to: body.utf8.count, by: 500).map {
            String(decoding: Array(body.utf8)[$0..<min($0 + 500, body.utf8.count)], as: UTF8.self)
        }
        let server = try await LoopbackServer { _ in
            withLength ? .respond(.ok, [:], body) : .respondInParts(.ok, [:], parts)
        }
        let client = try Self.client(server, maxResponseBytes: 1_000)
        do throws(Bitrix24Error) {
            _ = try await client.call("server.time")
            Issue.record("must fail")
        } catch {
            #expect(error.code == .responseTooLarge, "\(error)")
        }
        try await client.shutdown()
        try await server.close()
    }

    @Test func aLargeAnswerArrivingInManyPartsIsReadWhole() async throws {
        let text = String((0..<300_000).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
        let body = Array((#"{"result":""# + text + #""}"#).utf8)
        let parts = stride(from: 0, to: body.count, by: 16_384).map {
            String(decoding: body[$0..<min($0 + 16_384, body.count)], as: UTF8.self)
        }
        let server = try await LoopbackServer { _ in .respondInParts(.ok, [:], parts) }
        let client = try Self.client(server)
        let response = try await client.call("server.time")
        #expect(response.result.stringValue == text)
        try await client.shutdown()
        try await server.close()
    }

    /// A shared client that follows redirects itself turns the 302'd POST into a GET; the
    /// first hop is what counts, so the call is still POSTed to the new address.
    @Test func aSharedClientThatFollowsRedirectsStillRePosts() async throws {
        let target = try await LoopbackServer { request in
            request.method == .POST ? .respond(.ok, [:], #"{"result":{"ID":12}}"#) : .respond(.methodNotAllowed, [:], "{}")
        }
        let old = try await LoopbackServer { request in
            .respond(.found, ["Location": "\(target.origin)\(request.uri)"], "<html>moved</html>")
        }
        let shared = HTTPClient(configuration: .init(redirectConfiguration: .follow(max: 3, allowCycles: false)))
        let client = Bitrix24Client(
            credentials: try .webhook("\(old.origin)/rest/3/\(Self.code)/", allowInsecureHTTP: true), httpClient: shared)
        #expect(try await client.chatGet(entityType: "ORDER", entityID: "9") == 12)
        #expect(target.requests.last?.method == .POST)
        #expect(target.requests.last?.body == old.requests.first?.body)
        try await client.shutdown()
        try await shared.shutdown()
        try await old.close()
        try await target.close()
    }

    @Test func aConnectionClosedAfterSendingIsAmbiguous() async throws {
        let server = try await LoopbackServer { _ in .close }
        let client = try Self.client(server)
        do throws(Bitrix24Error) {
            _ = try await client.call("im.chat.add", params: ["TITLE": "x"])
            Issue.record("must fail")
        } catch {
            #expect(error.failureClass == .ambiguous, "\(error)")
            #expect(error.method == "im.chat.add")
            #expect(!error.description.contains(Self.code))
        }
        #expect(server.requests.count == 1)
        try await client.shutdown()
        try await server.close()
    }

    @Test func aTimeoutAfterSendingIsAmbiguous() async throws {
        let server = try await LoopbackServer { _ in .hang }
        let client = try Self.client(server, timeout: .milliseconds(300))
        do throws(Bitrix24Error) {
            _ = try await client.call("im.chat.add", params: ["TITLE": "x"])
            Issue.record("must fail")
        } catch {
            #expect(error.code == .timeout, "\(error)")
            #expect(error.failureClass == .ambiguous)
        }
        try await client.shutdown()
        try await server.close()
    }
}
