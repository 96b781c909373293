import Bitrix24Wire
import Foundation
import Hummingbird
import NIOCore

/// Request context that keeps the connection, so a fault can close it without answering.
struct SimulatorContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Routes the simulator's HTTP surface: `/rest/…` (the portal), `/oauth/token/` (the OAuth
/// server), `/_sim/…` (inspection and control for tests).
struct SimulatorResponder: HTTPResponder {
    typealias Context = SimulatorContext

    let portal: Portal
    let configuration: Simulator.Configuration
    /// Where the renamed portal answers (`http://HOST:PORT`), for the listener at the original
    /// address; nil for the listener at that renamed address, which never redirects.
    let renamedOrigin: String?

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix("/_sim/") {
            return try await control(path, request: request)
        }
        if path == "/oauth/token" || path == "/oauth/token/" {
            var params = try RESTRequestParser.queryParams(request.uri.query)
            guard let body = try? await Self.body(request, limit: configuration.maxBodyBytes) else { return Self.tooLarge }
            params.merge(try RESTRequestParser.bodyParams(body, contentType: request.headers[.contentType]).0) { _, b in b }
            let base = baseURL(request)
            // A held refresh waits here; dropped, it never reaches the OAuth server.
            if await portal.waitIfHeld(CallHolds.tokenEndpoint) == .drop { return try await drop(context) }
            let reply = await portal.token(params, baseURL: base, renamedBaseURL: renamedOrigin ?? base)
            if reply.status == 200, await portal.takeLostRefreshAnswer() { return try await drop(context) }
            return Self.json(reply)
        }
        if path.hasPrefix("/rest/") {
            // A renamed portal sends every REST call to its new host, path and query unchanged.
            if let renamedOrigin, await portal.renamedTo != nil {
                await portal.countRedirect()
                let query = request.uri.query.map { "?\($0)" } ?? ""
                return Self.redirect(to: "\(renamedOrigin)\(path)\(query)")
            }
            return try await rest(request, context: context, path: path.dropFirst(6))
        }
        return Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "Not found\n")))
    }

    /// One REST request: latency, the seeded fault, then the portal.
    private func rest(_ request: Request, context: Context, path: Substring) async throws -> Response {
        let received = Date()
        if configuration.latency > .zero { try await Task.sleep(for: configuration.latency) }
        let fault = await portal.begin()
        switch fault {
        case .failBefore where configuration.faults.beforeEffectStyle == .closeConnection:
            return try await drop(context)
        case .failBefore:
            return Self.json(.error(.internalServerError))
        case .html502:
            return Self.badGateway
        default:
            break
        }
        guard let body = try? await Self.body(request, limit: configuration.maxBodyBytes) else { return Self.tooLarge }
        let input = RESTRequestParser.Input(
            path: path, query: request.uri.query, contentType: request.headers[.contentType],
            authorization: request.headers[.authorization], body: body, received: received)
        let reply: Reply
        switch Result(catching: { () throws(PortalError) in try RESTRequestParser().parse(input) }) {
        case .success(let call):
            // A held method waits here, before the portal sees it; dropped, it never runs.
            if await portal.waitIfHeld(call.method) == .drop { return try await drop(context) }
            reply = await portal.execute(call)
        case .failure(let error):
            await portal.countRejection(error.code)
            reply = .error(error)
        }
        switch fault {
        case .failAfter:
            return Self.json(.error(.internalServerError))
        case .dropAfter:
            return try await drop(context)
        case .slow:
            try await Task.sleep(for: configuration.faults.slowDelay)
            return Self.json(reply)
        default:
            return Self.json(reply)
        }
    }

    /// Closes the connection so the client gets no response at all; the response returned
    /// afterwards only satisfies the server and is never written.
    private func drop(_ context: Context) async throws -> Response {
        try? await context.channel.close()
        return Response(status: .internalServerError)
    }

    private func control(_ path: String, request: Request) async throws -> Response {
        switch (request.method, path) {
        case (.get, "/_sim/state"):
            return Self.json(Reply(status: 200, body: await portal.snapshot().json))
        case (.post, "/_sim/reset"):
            await portal.reset()
        case (.post, "/_sim/expire-token"):
            await portal.expireAccessTokens()
        case (.post, "/_sim/revoke-refresh-tokens"):
            await portal.revokeRefreshTokens()
        case (.post, "/_sim/lose-refresh-answers"):
            let text = try RESTRequestParser.queryParams(request.uri.query)["count"]?.stringValue ?? ""
            guard let count = Int(text), (0...1000).contains(count) else {
                return Self.json(Reply(status: 400, body: ["error": "INVALID_REQUEST", "error_description": "count is 0 to 1000"]))
            }
            await portal.loseRefreshAnswers(count)
        case (.post, "/_sim/rename"):
            let to = try RESTRequestParser.queryParams(request.uri.query)["to"]?.stringValue
            await portal.setRenamed(to.flatMap { $0.isEmpty ? nil : $0 })
        default:
            return Self.json(Reply(status: 404, body: ["error": "NOT_FOUND", "error_description": "Unknown simulator endpoint"]))
        }
        return Self.json(Reply(status: 200, body: ["result": true]))
    }

    private func baseURL(_ request: Request) -> String {
        "http://\(request.head.authority ?? "\(configuration.host):\(configuration.port)")"
    }

    static func body(_ request: Request, limit: Int) async throws -> [UInt8] {
        let buffer = try await request.body.collect(upTo: limit)
        return Array(buffer.readableBytesView)
    }

    static func json(_ reply: Reply) -> Response {
        Response(
            status: HTTPResponse.Status(code: reply.status),
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: reply.json)))
    }

    static func redirect(to location: String) -> Response {
        var response = proxyPage(.found)
        response.headers[.location] = location
        return response
    }

    /// What the portal's front proxy answers when it cannot reach the portal.
    static var badGateway: Response { proxyPage(.badGateway) }

    /// What the front proxy answers to a body over its limit.
    static var tooLarge: Response { proxyPage(.contentTooLarge) }

    /// An nginx error page, as a proxy in front of the portal writes it.
    static func proxyPage(_ status: HTTPResponse.Status) -> Response {
        let title = "\(status.code) \(status.reasonPhrase)"
        let page = "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n<center><h1>\(title)</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        return Response(status: status, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }
}
