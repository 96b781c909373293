import Bitrix24Wire
import Foundation

/// Turns an HTTP request under `/rest/` into a `RESTCall`, reading the URL forms, the
/// parameters and the credentials the way the portal does.
///
/// - `/rest/<user>/<code>/METHOD[.json]`: incoming webhook.
/// - `/rest/METHOD[.json]`: OAuth, token in `auth` (body or query) or `Authorization: Bearer`.
/// - Parameters from the query string, then the body (JSON or PHP-bracket form), body winning
///   as in PHP's `$_REQUEST`.
struct RESTRequestParser: Sendable {
    struct Input: Sendable {
        /// Path after `/rest/`, e.g. `1/code/im.chat.add.json`.
        var path: Substring
        /// Raw (still percent-encoded) query string.
        var query: String?
        var contentType: String?
        var authorization: String?
        var body: [UInt8]
        var received: Date
    }

    func parse(_ input: Input) throws(PortalError) -> RESTCall {
        let segments = input.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var method: String
        var credentials: Credentials
        switch segments.count {
        case 3:
            method = segments[2]
            credentials = .webhook(userID: segments[0], code: segments[1])
        case 1:
            method = segments[0]
            credentials = .token(nil)
        default:
            throw .methodNotFound
        }
        method = method.lowercased()
        if method.hasSuffix(".json") { method.removeLast(5) }

        var params = try Self.queryParams(input.query)
        var order = input.query.map(CommandOrder.fromForm) ?? []
        let (bodyParams, bodyOrder) = try Self.bodyParams(input.body, contentType: input.contentType)
        params.merge(bodyParams) { _, body in body }
        order += bodyOrder

        if case .token = credentials {
            let fromParams = params.removeValue(forKey: "auth")?.stringValue
            credentials = .token(fromParams ?? Self.bearer(input.authorization))
        }
        return RESTCall(
            method: method, params: params, credentials: credentials, received: input.received,
            commandOrder: method == "batch" ? order : [])
    }

    static func queryParams(_ query: String?) throws(PortalError) -> [String: JSONValue] {
        guard let query, !query.isEmpty else { return [:] }
        do { return try PHPForm.decode(query) } catch { throw .malformedBody }
    }

    /// Parameters of the body and the order of its `cmd` keys.
    static func bodyParams(_ body: [UInt8], contentType: String?) throws(PortalError) -> ([String: JSONValue], [String]) {
        guard !body.isEmpty else { return ([:], []) }
        let type = contentType?.lowercased() ?? ""
        if type.contains("json") {
            guard let value = try? JSONValue(jsonData: body) else { throw .malformedBody }
            switch value {
            case .object(let members): return (members, CommandOrder.fromJSON(body))
            case .array(let items) where items.isEmpty: return ([:], [])
            default: throw .malformedBody
            }
        }
        guard type.isEmpty || type.contains("x-www-form-urlencoded") || type.hasPrefix("text/plain"),
            let text = String(validating: body, as: UTF8.self)
        else { throw .malformedBody }
        do { return (try PHPForm.decode(text), CommandOrder.fromForm(text)) } catch { throw .malformedBody }
    }

    static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }
}
