import Bitrix24Wire
import Foundation

/// A token pair issued by the OAuth server on refresh.
///
/// The refresh token is new every time and the old one stops working, so the pair must be
/// persisted before anything else relies on it. Descriptions never show either token.
public struct OAuthTokens: Sendable, Hashable {
    public var accessToken: String
    public var refreshToken: String
    /// When the access token expires (`expires`, Unix seconds).
    public var expiresAt: Date?
    /// Lifetime of the access token in seconds (`expires_in`, normally 3600).
    public var expiresIn: Int64?
    /// When this process received the pair (or stored it, for a pair read back).
    public var issuedAt: Date?
    public var memberID: String?
    public var domain: String?
    public var clientEndpoint: String?
    public var serverEndpoint: String?
    public var scope: String?

    public init(
        accessToken: String, refreshToken: String, expiresAt: Date? = nil, expiresIn: Int64? = nil,
        issuedAt: Date? = nil, memberID: String? = nil, domain: String? = nil, clientEndpoint: String? = nil,
        serverEndpoint: String? = nil, scope: String? = nil
    ) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAt = expiresAt
        self.expiresIn = expiresIn
        self.issuedAt = issuedAt
        self.memberID = memberID
        self.domain = domain
        self.clientEndpoint = clientEndpoint
        self.serverEndpoint = serverEndpoint
        self.scope = scope
    }

    /// Reads the token endpoint's answer; nil when either token is missing.
    init?(json: JSONValue) {
        guard let access = json["access_token"]?.stringValue, !access.isEmpty,
            let refresh = json["refresh_token"]?.stringValue, !refresh.isEmpty
        else { return nil }
        self.init(
            accessToken: access, refreshToken: refresh,
            expiresAt: json["expires"]?.intValue.map { Date(timeIntervalSince1970: TimeInterval($0)) },
            expiresIn: json["expires_in"]?.intValue, issuedAt: Date(),
            memberID: json["member_id"]?.stringValue, domain: json["domain"]?.stringValue,
            clientEndpoint: json["client_endpoint"]?.stringValue,
            serverEndpoint: json["server_endpoint"]?.stringValue, scope: json["scope"]?.stringValue)
    }
}

extension OAuthTokens {
    /// When the access token stops working by this host's clock: `expires_in` after it arrived,
    /// which does not depend on the server's clock agreeing with ours, else `expires`.
    public var validUntil: Date? {
        if let expiresIn, let issuedAt, expiresIn > 0 { return issuedAt.addingTimeInterval(TimeInterval(expiresIn)) }
        return expiresAt
    }
}

extension OAuthTokens: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        var parts = ["accessToken: ***", "refreshToken: ***"]
        if let expiresAt { parts.append("expiresAt: \(expiresAt)") }
        if let memberID { parts.append("memberID: \(memberID)") }
        if let domain { parts.append("domain: \(domain)") }
        return "OAuthTokens(\(parts.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "accessToken": "***", "refreshToken": "***", "expiresAt": expiresAt as Any,
                "memberID": memberID as Any, "domain": domain as Any, "scope": scope as Any,
            ])
    }
}
