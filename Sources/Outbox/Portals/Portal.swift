import Bitrix24
import Foundation

/// A Bitrix24 portal as operators see it: never with a secret.
public struct Portal: Sendable, Hashable, Codable {
    public var id: Int64
    public var name: String
    /// The portal's address, e.g. `https://example.bitrix24.com`.
    public var baseURL: String
    /// `webhook` or `oauth`.
    public var authKind: String
    public var webhookUserID: Int64?
    public var memberID: String?
    public var domain: String?
    /// Whether inbound events can be verified (an application token is stored).
    public var acceptsEvents: Bool
    /// Whether expired OAuth tokens can be refreshed (refresh token and client credentials).
    public var canRefresh: Bool
    public var rateBucket: Int
    public var rateDrain: Double
    /// Whether its intents are claimed: `active`, or `paused` by an operator.
    public var state: State

    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        case active, paused
    }
}

/// What `portal add` stores: credentials and the settings around them.
public struct PortalRegistration: Sendable {
    /// Bucket sizes that make sense (Bitrix24 has 50, 250 on Enterprise; more only for a
    /// simulator without a limit).
    public static let rateBuckets = 1...1_000_000
    /// Drains that make sense, in requests per second (Bitrix24 has 2, 5 on Enterprise): below
    /// 0.01 a single request would wait minutes for room.
    public static let rateDrains = 0.01...1_000_000.0
    /// Access token lifetimes that make sense, in seconds (Bitrix24's live 3600 s).
    public static let tokenLifetimes = 1...31_536_000

    public var name: String
    public var credentials: Bitrix24Credentials
    /// Proof of origin of inbound events (`auth[application_token]`).
    public var applicationToken: String?
    public var memberID: String?
    /// Defaults to the portal address's host.
    public var domain: String?
    /// Bitrix24's leaky bucket for this portal: 50 and 2/s, or 250 and 5/s on Enterprise.
    public var rateBucket: Int = 50
    public var rateDrain: Double = 2
    /// Where OAuth tokens are refreshed; Bitrix24's own server when nil.
    public var tokenEndpoint: URL?

    public init(
        name: String, credentials: Bitrix24Credentials, applicationToken: String? = nil, memberID: String? = nil,
        domain: String? = nil, rateBucket: Int = 50, rateDrain: Double = 2, tokenEndpoint: URL? = nil
    ) {
        self.name = name
        self.credentials = credentials
        self.applicationToken = applicationToken
        self.memberID = memberID
        self.domain = domain
        self.rateBucket = rateBucket
        self.rateDrain = rateDrain
        self.tokenEndpoint = tokenEndpoint
    }
}
