import Foundation

/// The client's mutable state: the current credentials (token pair, portal address) and the
/// refresh in flight, if any.
///
/// Refreshes are single-flight: callers whose token was rejected all wait for one refresh, and a
/// caller whose rejected token was already replaced gets the new one without refreshing again.
/// That matters because every refresh kills the previous refresh token.
actor CredentialStore {
    typealias Refresher = @Sendable (Bitrix24Credentials.OAuthSecrets) async throws(Bitrix24Error) -> OAuthTokens

    private(set) var credentials: Bitrix24Credentials
    /// The pair from the latest refresh, with its expiry and portal details.
    private(set) var lastRefresh: OAuthTokens?
    private let refresher: Refresher
    private var inFlight: Task<OAuthTokens, any Error>?
    /// Set once the refresh token is known to be dead, so nobody hammers the token endpoint.
    private var refreshDead: Bitrix24Error?

    init(credentials: Bitrix24Credentials, refresher: @escaping Refresher) {
        self.credentials = credentials
        self.refresher = refresher
    }

    /// Credentials with an access token other than `rejectedToken`: the current ones if the token
    /// was already replaced, else those after a refresh (joining one already under way).
    func refreshed(replacing rejectedToken: String?) async throws(Bitrix24Error) -> Bitrix24Credentials {
        guard let secrets = credentials.oauthSecrets else {
            throw Bitrix24Error(code: .cannotRefresh, errorDescription: "webhook credentials have no token to refresh")
        }
        if let rejectedToken, secrets.accessToken != rejectedToken { return credentials }
        if let refreshDead { throw refreshDead }
        let task: Task<OAuthTokens, any Error>
        if let inFlight {
            task = inFlight
        } else {
            guard credentials.canRefresh else {
                throw Bitrix24Error(
                    code: .cannotRefresh,
                    errorDescription: "the credentials lack a refresh token, client id or client secret")
            }
            let refresher = self.refresher
            // Unstructured on purpose: a caller cancelled mid-refresh must not lose the new pair.
            task = Task { () async throws -> OAuthTokens in try await refresher(secrets) }
            inFlight = task
        }
        do {
            let tokens = try await task.value
            if inFlight == task { inFlight = nil }
            // Several waiters resume here; only the first finds the old token still current.
            if credentials.accessToken == secrets.accessToken {
                credentials = credentials.replacingTokens(tokens)
                lastRefresh = tokens
            }
            return credentials
        } catch {
            if inFlight == task { inFlight = nil }
            let failure =
                error as? Bitrix24Error
                ?? Bitrix24Error(code: .transportError, errorDescription: "token refresh failed", failureClass: .ambiguous)
            if failure.failureClass == .permanent { refreshDead = failure }
            throw failure
        }
    }

    /// Records a move of the portal to `newOrigin`; true only for the caller that made the change,
    /// so a move seen by many concurrent requests is reported once.
    func movePortal(from oldOrigin: URL, to newOrigin: URL) -> Bool {
        guard credentials.portal == oldOrigin, oldOrigin != newOrigin else { return false }
        credentials = credentials.movingPortal(to: newOrigin)
        return true
    }
}
