import Foundation
import NIOHTTP1
import Testing

@testable import Bitrix24

/// The real AsyncHTTPClient transport against a loopback server.
@Suite struct LoopbackTests {
    static let code = "loop1234back5678"

    static func client(_ server: LoopbackServer, timeout: Duration = .seconds(5), onPortalMoved: (@Sendable (URL) async -> Void)? = nil) throws -> Bitrix24Client {
        var configuration = Bitrix24Client.Configuration()
        configuration.requestTimeout = timeout
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
