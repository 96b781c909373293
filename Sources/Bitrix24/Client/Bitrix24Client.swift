import AsyncHTTPClient
import Bitrix24Wire
import Foundation
import Logging
import NIOHTTP1

/// A Bitrix24 REST client for one portal.
///
/// Every call is a JSON POST; failures are `Bitrix24Error`s classified for retrying. The client
/// refreshes an OAuth token itself: ahead of its expiry when the expiry is known (in the
/// background, calls go on meanwhile), else when a call is refused for it (once per expiry,
/// however many calls hit it, and the call is sent once more); it re-POSTs once to a renamed portal's new address and keeps using it.
/// Nothing it logs or throws contains a webhook code, token or client secret.
public final class Bitrix24Client: Sendable {
    public let configuration: Configuration
    let transport: any HTTPTransport
    let store: CredentialStore
    let logger: Logger
    let onPortalMoved: (@Sendable (URL) async -> Void)?
    private let ownedHTTPClient: HTTPClient?

    /// - Parameters:
    ///   - httpClient: a shared client to use; it should be created with
    ///     `Configuration.httpClientConfiguration` (at least redirects disallowed). Without one,
    ///     the client owns one, and `shutdown()` must be called.
    ///   - onTokensRefreshed: receives every new token pair before any call uses it; persist it,
    ///     since the previous refresh token no longer works.
    ///   - onPortalMoved: receives the portal's new address (scheme, host, port) after a redirect.
    ///   - refreshGate: wraps every refresh, so processes sharing one token pair can take turns
    ///     (see `TokenRefreshGate`).
    public convenience init(
        credentials: Bitrix24Credentials,
        configuration: Configuration = Configuration(),
        httpClient: HTTPClient? = nil,
        logger: Logger = Bitrix24Client.defaultLogger,
        onTokensRefreshed: (@Sendable (OAuthTokens) async -> Void)? = nil,
        onPortalMoved: (@Sendable (URL) async -> Void)? = nil,
        refreshGate: TokenRefreshGate? = nil
    ) {
        let owned = httpClient == nil ? HTTPClient(configuration: configuration.httpClientConfiguration) : nil
        let transport = AsyncHTTPClientTransport(
            client: httpClient ?? owned!, maxResponseBytes: configuration.maxResponseBytes)
        self.init(
            credentials: credentials, configuration: configuration, transport: transport, ownedHTTPClient: owned,
            logger: logger, onTokensRefreshed: onTokensRefreshed, onPortalMoved: onPortalMoved, refreshGate: refreshGate)
    }

    /// A client over connections it shares with other clients; the pool's owner shuts them down.
    public convenience init(
        credentials: Bitrix24Credentials, configuration: Configuration = Configuration(), connections: Bitrix24ConnectionPool,
        logger: Logger = Bitrix24Client.defaultLogger, onTokensRefreshed: (@Sendable (OAuthTokens) async -> Void)? = nil,
        onPortalMoved: (@Sendable (URL) async -> Void)? = nil, refreshGate: TokenRefreshGate? = nil
    ) {
        self.init(
            credentials: credentials, configuration: configuration, httpClient: connections.httpClient, logger: logger,
            onTokensRefreshed: onTokensRefreshed, onPortalMoved: onPortalMoved, refreshGate: refreshGate)
    }

    /// A client over any transport (an in-memory one in tests).
    package convenience init(
        credentials: Bitrix24Credentials,
        configuration: Configuration = Configuration(),
        transport: any HTTPTransport,
        logger: Logger = Bitrix24Client.defaultLogger,
        onTokensRefreshed: (@Sendable (OAuthTokens) async -> Void)? = nil,
        onPortalMoved: (@Sendable (URL) async -> Void)? = nil
    ) {
        self.init(
            credentials: credentials, configuration: configuration, transport: transport, ownedHTTPClient: nil,
            logger: logger, onTokensRefreshed: onTokensRefreshed, onPortalMoved: onPortalMoved)
    }

    private init(
        credentials: Bitrix24Credentials, configuration: Configuration, transport: any HTTPTransport,
        ownedHTTPClient: HTTPClient?, logger: Logger,
        onTokensRefreshed: (@Sendable (OAuthTokens) async -> Void)?, onPortalMoved: (@Sendable (URL) async -> Void)?,
        refreshGate: TokenRefreshGate? = nil
    ) {
        self.configuration = configuration
        self.transport = transport
        self.ownedHTTPClient = ownedHTTPClient
        self.logger = logger
        self.onPortalMoved = onPortalMoved
        let refresher = TokenRefresher(
            transport: transport, configuration: configuration,
            allowInsecureHTTP: credentials.allowsInsecureHTTP, logger: logger, onTokensRefreshed: onTokensRefreshed)
        self.store = CredentialStore(
            credentials: credentials, gated: refreshGate != nil, refreshAhead: configuration.refreshAhead,
            exchangeLimit: configuration.requestTimeout, refresher: refreshGate.map(refresher.gated(by:)) ?? refresher.ungated)
    }

    /// Returns once no token refresh is in flight (each ends within the request timeout). Call
    /// it before shutting down the HTTP client: a refresh cut off there may have spent the
    /// refresh token at the server, and its new pair would be lost.
    public func waitForRefreshes() async {
        await store.settle()
    }

    /// Shuts down the HTTP client this client created, once no token refresh is in flight; a
    /// no-op for an injected one.
    public func shutdown() async throws {
        await store.settle()
        try await ownedHTTPClient?.shutdown()
    }

    /// A logger that discards everything, labelled `b24outbox.bitrix24`.
    public static let defaultLogger = Logger(label: "b24outbox.bitrix24", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The credentials in use now: after a refresh they hold the new token pair, after a move the
    /// new portal address.
    public var credentials: Bitrix24Credentials {
        get async { await store.credentials }
    }

    /// Refreshes the OAuth token pair now, whether or not it expired.
    @discardableResult
    public func refreshTokens() async throws(Bitrix24Error) -> OAuthTokens {
        let current = try await store.refreshed(replacing: nil)
        if let tokens = await store.lastRefresh, tokens.accessToken == current.accessToken { return tokens }
        guard let access = current.accessToken, let refresh = current.refreshToken else {
            throw Bitrix24Error(code: .cannotRefresh, errorDescription: "no token pair after refresh")
        }
        return OAuthTokens(accessToken: access, refreshToken: refresh)
    }

    /// Calls any REST method with JSON parameters and returns the envelope's `result` and `time`.
    /// No exchange starts that could end after `deadline` (see `execute(_:deadline:)`).
    public func call(
        _ method: String, params: [String: JSONValue] = [:], deadline: ContinuousClock.Instant? = nil
    ) async throws(Bitrix24Error) -> Bitrix24Response {
        try await perform(method: method, deadline: deadline) { auth in
            var body = params
            if let auth { body["auth"] = .string(auth) }
            return Array(JSONValue.object(body).jsonData())
        }
    }
}
