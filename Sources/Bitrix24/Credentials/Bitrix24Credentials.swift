import Foundation

/// How the client authenticates against one portal: an incoming webhook or an OAuth application.
///
/// Every secret (webhook code, tokens, client secret) is kept out of `description`,
/// `debugDescription` and the reflection mirror, so printing or dumping credentials is safe.
public struct Bitrix24Credentials: Sendable, Hashable {
    enum Storage: Sendable, Hashable {
        case webhook(userID: Int64, code: String)
        case oauth(OAuthSecrets)
    }

    struct OAuthSecrets: Sendable, Hashable {
        var accessToken: String
        var refreshToken: String?
        var clientID: String?
        var clientSecret: String?
        /// When the access token stops working, when known, and when it was issued: a refresh
        /// is due ahead of the expiry, by a share of this lifetime.
        var expiresAt: Date?
        var issuedAt: Date?
    }

    /// Scheme, host and port of the portal (`https://example.bitrix24.com`), without a path.
    public internal(set) var portal: URL
    /// Whether plain `http://` was explicitly allowed (a loopback simulator, tests).
    public let allowsInsecureHTTP: Bool
    var storage: Storage

    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { "invalid Bitrix24 credentials: \(reason)" }
    }

    /// An incoming webhook URL, `https://PORTAL/rest/USER_ID/CODE/`.
    public static func webhook(_ url: URL, allowInsecureHTTP: Bool = false) throws(ParseError) -> Self {
        // Never echo the URL in errors: it carries the code.
        let portal = try origin(of: url, allowInsecureHTTP: allowInsecureHTTP)
        guard url.query == nil, url.fragment == nil else {
            throw ParseError(reason: "a webhook URL has no query or fragment")
        }
        let parts = url.path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[0] == "rest" else {
            throw ParseError(reason: "a webhook URL has the path /rest/USER_ID/CODE/")
        }
        guard let userID = Int64(parts[1]), userID > 0 else {
            throw ParseError(reason: "the webhook user id must be a positive number")
        }
        let code = String(parts[2])
        guard code.utf8.allSatisfy(isCodeByte) else {
            throw ParseError(reason: "the webhook code may contain only letters, digits, '-' and '_'")
        }
        return Self(portal: portal, allowsInsecureHTTP: allowInsecureHTTP, storage: .webhook(userID: userID, code: code))
    }

    /// An incoming webhook URL given as text (as users paste it).
    public static func webhook(_ string: String, allowInsecureHTTP: Bool = false) throws(ParseError) -> Self {
        guard let url = URL(string: string.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ParseError(reason: "the webhook URL is not a URL")
        }
        return try webhook(url, allowInsecureHTTP: allowInsecureHTTP)
    }

    /// An OAuth application. `portal` is the portal address; a trailing `/rest/` (as in
    /// `client_endpoint`) is accepted. Without a refresh token, client id and client secret the
    /// client cannot refresh, and an expired token is a permanent error.
    public static func oauth(
        portal: URL, accessToken: String, refreshToken: String? = nil,
        clientID: String? = nil, clientSecret: String? = nil, accessTokenExpiresAt: Date? = nil,
        accessTokenIssuedAt: Date? = nil, allowInsecureHTTP: Bool = false
    ) throws(ParseError) -> Self {
        let origin = try origin(of: portal, allowInsecureHTTP: allowInsecureHTTP)
        let path = portal.path.split(separator: "/")
        guard path.isEmpty || path == ["rest"] else {
            throw ParseError(reason: "an OAuth portal address has no path other than /rest/")
        }
        guard !accessToken.isEmpty else { throw ParseError(reason: "the access token is empty") }
        let secrets = OAuthSecrets(
            accessToken: accessToken, refreshToken: refreshToken.nonEmpty,
            clientID: clientID.nonEmpty, clientSecret: clientSecret.nonEmpty,
            expiresAt: accessTokenExpiresAt, issuedAt: accessTokenIssuedAt)
        return Self(portal: origin, allowsInsecureHTTP: allowInsecureHTTP, storage: .oauth(secrets))
    }

    public var isWebhook: Bool {
        if case .webhook = storage { return true }
        return false
    }

    /// The user a webhook acts as; nil for OAuth.
    public var webhookUserID: Int64? {
        if case .webhook(let userID, _) = storage { return userID }
        return nil
    }

    /// The webhook's secret code: for persisting, never for printing.
    public var webhookCode: String? {
        if case .webhook(_, let code) = storage { return code }
        return nil
    }

    /// The full webhook URL, secret included: for persisting, never for printing.
    public var webhookURL: URL? {
        guard case .webhook(let userID, let code) = storage else { return nil }
        return portal.appendingPathComponent("rest/\(userID)/\(code)/")
    }

    public var accessToken: String? { oauthSecrets?.accessToken }
    public var refreshToken: String? { oauthSecrets?.refreshToken }
    public var clientID: String? { oauthSecrets?.clientID }
    public var clientSecret: String? { oauthSecrets?.clientSecret }
    /// When the access token stops working, when known.
    public var accessTokenExpiresAt: Date? { oauthSecrets?.expiresAt }
    /// When the access token was issued, when known.
    public var accessTokenIssuedAt: Date? { oauthSecrets?.issuedAt }

    /// True when an expired access token can be replaced without the user.
    public var canRefresh: Bool {
        guard let s = oauthSecrets else { return false }
        return s.refreshToken != nil && s.clientID != nil && s.clientSecret != nil
    }

    var oauthSecrets: OAuthSecrets? {
        if case .oauth(let secrets) = storage { return secrets }
        return nil
    }

    /// Every secret string, for scrubbing them out of text that came from elsewhere.
    var secrets: [String] {
        switch storage {
        case .webhook(_, let code): return [code]
        case .oauth(let s): return [s.accessToken, s.refreshToken, s.clientSecret].compactMap { $0 }
        }
    }

    /// The same credentials with a new token pair (after a refresh).
    func replacingTokens(_ tokens: OAuthTokens) -> Self {
        guard case .oauth(var s) = storage else { return self }
        s.accessToken = tokens.accessToken
        s.refreshToken = tokens.refreshToken
        s.expiresAt = tokens.validUntil
        s.issuedAt = tokens.issuedAt
        var copy = self
        copy.storage = .oauth(s)
        return copy
    }

    /// The same credentials on another host (a renamed portal).
    func movingPortal(to origin: URL) -> Self {
        var copy = self
        copy.portal = origin
        return copy
    }

    // MARK: URL checks

    static func origin(of url: URL, allowInsecureHTTP: Bool) throws(ParseError) -> URL {
        guard let scheme = url.scheme?.lowercased() else { throw ParseError(reason: "the URL has no scheme") }
        guard scheme == "https" || (scheme == "http" && allowInsecureHTTP) else {
            throw ParseError(
                reason: scheme == "http" ? "plain http is refused; use https" : "the URL scheme must be https")
        }
        guard let host = url.host, !host.isEmpty else { throw ParseError(reason: "the URL has no host") }
        guard url.user == nil, url.password == nil else {
            throw ParseError(reason: "the URL must not carry a user name or password")
        }
        var components = URLComponents()
        components.scheme = scheme
        components.host = host.lowercased()
        components.port = url.port
        guard let origin = components.url else { throw ParseError(reason: "the URL host is not valid") }
        return origin
    }

    private static func isCodeByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}

extension Bitrix24Credentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        switch storage {
        case .webhook(let userID, _):
            return "\(portal.absoluteString)/rest/\(userID)/***/"
        case .oauth(let s):
            var parts = ["portal: \(portal.absoluteString)", "accessToken: ***"]
            if s.refreshToken != nil { parts.append("refreshToken: ***") }
            if let clientID = s.clientID { parts.append("clientID: \(clientID)") }
            if s.clientSecret != nil { parts.append("clientSecret: ***") }
            return "oauth(\(parts.joined(separator: ", ")))"
        }
    }

    public var debugDescription: String { "Bitrix24Credentials(\(description))" }

    public var customMirror: Mirror {
        switch storage {
        case .webhook(let userID, _):
            return Mirror(self, children: ["kind": "webhook", "portal": portal, "userID": userID, "code": "***"])
        case .oauth(let s):
            return Mirror(self, children: ["kind": "oauth", "portal": portal, "clientID": s.clientID as Any, "secrets": "***"])
        }
    }
}

extension Optional where Wrapped == String {
    fileprivate var nonEmpty: String? {
        guard let s = self, !s.isEmpty else { return nil }
        return s
    }
}
