import Bitrix24Wire
import Foundation

/// The client's mutable state: the current credentials (token pair, portal address) and the
/// refreshes in flight, if any.
///
/// - Ahead of the expiry (when it is known), the first call inside the refresh window starts a
///   refresh in the background and goes on with the token in hand; nobody waits for it.
/// - A token that was refused, or runs out within a request's time by this host's clock, is
///   refreshed before the call goes on: single-flight, since every refresh kills the previous refresh token, and a
///   caller whose token was already replaced gets the new one without refreshing again.
actor CredentialStore {
    typealias Refresher = @Sendable (Bitrix24Credentials.OAuthSecrets, TokenRefreshRequest) async throws(Bitrix24Error) -> OAuthTokens?

    private(set) var credentials: Bitrix24Credentials
    /// The pair from the latest refresh, with its expiry and portal details.
    private(set) var lastRefresh: OAuthTokens?
    private let refresher: Refresher
    /// Whether a gate shares the pair with other processes: it then knows whether a refresh
    /// token is dead (another process may have stored a new pair), so nothing is remembered here.
    private let gated: Bool
    private let refreshAhead: Duration
    private let exchangeLimit: Duration
    private var urgent: Task<OAuthTokens?, any Error>?
    private var ahead: Task<Void, Never>?
    /// No refresh ahead before this: one was declined (another process is refreshing) or failed.
    private var nextAhead = Date.distantPast
    /// Ungated only: set once the refresh token is known to be dead, so nobody hammers the
    /// token endpoint.
    private var refreshDead: Bitrix24Error?

    init(credentials: Bitrix24Credentials, gated: Bool = false, refreshAhead: Duration = .seconds(300),
         exchangeLimit: Duration = .seconds(30), refresher: @escaping Refresher) {
        self.credentials = credentials
        self.refresher = refresher
        self.gated = gated
        self.refreshAhead = refreshAhead
        self.exchangeLimit = exchangeLimit
    }

    /// The credentials for the next call. Starts a refresh ahead of the expiry in the
    /// background; refreshes first when the token is about to run out (a call would only be
    /// refused, and the refusal costs a request of the portal's bucket).
    func forCall(deadline: ContinuousClock.Instant?) async throws(Bitrix24Error) -> Bitrix24Credentials {
        guard let secrets = credentials.oauthSecrets, let expiresAt = secrets.expiresAt, credentials.canRefresh,
              refreshDead == nil
        else { return credentials }
        let now = Date()
        let window = Self.window(secrets, refreshAhead: refreshAhead)
        // A call sent this close to the expiry may arrive after it: when the refresh ahead has
        // not brought a new pair by then, calls wait for one.
        if now >= expiresAt.addingTimeInterval(-min(exchangeLimit.inSeconds, window / 2)) {
            do {
                return try await refreshed(replacing: secrets.accessToken, deadline: deadline)
            } catch where Date() < expiresAt {
                // No new pair (refused, or the OAuth server is down): the token in hand still
                // works until it expires.
                return credentials
            }
        }
        if now >= expiresAt.addingTimeInterval(-window), now >= nextAhead, ahead == nil, urgent == nil {
            startAhead(secrets)
        }
        return credentials
    }

    /// How long before the expiry a refresh is due: `refreshAhead`, but at most half the
    /// token's lifetime, so a short-lived token is not refreshed again as soon as it arrives.
    static func window(_ secrets: Bitrix24Credentials.OAuthSecrets, refreshAhead: Duration) -> TimeInterval {
        guard let expiresAt = secrets.expiresAt, let issuedAt = secrets.issuedAt, expiresAt > issuedAt else {
            return refreshAhead.inSeconds
        }
        return min(refreshAhead.inSeconds, expiresAt.timeIntervalSince(issuedAt) / 2)
    }

    private func startAhead(_ secrets: Bitrix24Credentials.OAuthSecrets) {
        let request = TokenRefreshRequest(replacing: secrets.accessToken, urgent: false, deadline: nil, exchangeLimit: exchangeLimit)
        let refresher = self.refresher
        let window = Self.window(secrets, refreshAhead: refreshAhead)
        ahead = Task {
            let result: Result<OAuthTokens?, Bitrix24Error>
            do throws(Bitrix24Error) {
                result = .success(try await refresher(secrets, request))
            } catch {
                result = .failure(error)
            }
            self.aheadEnded(result, replacing: secrets.accessToken, window: window)
        }
    }

    private func aheadEnded(_ result: Result<OAuthTokens?, Bitrix24Error>, replacing old: String, window: TimeInterval) {
        ahead = nil
        switch result {
        case .success(let tokens?):
            adopt(tokens, replacing: old)
            nextAhead = .distantPast
        case .success(nil):
            // Another process is refreshing: look for its pair again shortly.
            nextAhead = Date().addingTimeInterval(min(1, window / 8))
        case .failure(let error):
            if !gated, error.failureClass == .permanent { refreshDead = error }
            // The token in hand still works; try again later in the window, or when it runs out.
            nextAhead = Date().addingTimeInterval(min(30, window / 4))
        }
    }

    /// Credentials with an access token other than `rejectedToken`: the current ones if the
    /// token was already replaced, else those after a refresh (joining one already under way).
    /// `rejectedToken` nil refreshes the current token. No exchange starts that could leave the
    /// call after it less than a request's time before `deadline`.
    func refreshed(
        replacing rejectedToken: String?, deadline: ContinuousClock.Instant? = nil
    ) async throws(Bitrix24Error) -> Bitrix24Credentials {
        guard var secrets = credentials.oauthSecrets else {
            throw Bitrix24Error(code: .cannotRefresh, errorDescription: "webhook credentials have no token to refresh")
        }
        let replacing = rejectedToken ?? secrets.accessToken
        if secrets.accessToken != replacing { return credentials }
        if let refreshDead { throw refreshDead }
        // A refresh ahead under way brings the pair this caller needs.
        if let ahead {
            await ahead.value
            guard let now = credentials.oauthSecrets else { return credentials }
            if now.accessToken != replacing { return credentials }
            secrets = now
        }
        let task: Task<OAuthTokens?, any Error>
        if let urgent {
            task = urgent
        } else {
            guard credentials.canRefresh else {
                throw Bitrix24Error(
                    code: .cannotRefresh,
                    errorDescription: "the credentials lack a refresh token, client id or client secret")
            }
            // The call that needs the token is sent after the refresh: its time is kept back.
            let refreshDeadline = deadline.map { $0 - exchangeLimit }
            if let refreshDeadline, ContinuousClock.now + exchangeLimit > refreshDeadline {
                throw Bitrix24Error(
                    code: .noTimeLeft, errorDescription: "no time is left for a token refresh", method: TokenRefresher.method,
                    failureClass: .notExecuted)
            }
            let request = TokenRefreshRequest(
                replacing: replacing, urgent: true, deadline: refreshDeadline, exchangeLimit: exchangeLimit)
            let refresher = self.refresher
            let current = secrets
            // Unstructured on purpose: a caller cancelled mid-refresh must not lose the new pair.
            task = Task { () async throws -> OAuthTokens? in try await refresher(current, request) }
            urgent = task
        }
        do {
            let tokens = try await task.value
            if urgent == task { urgent = nil }
            guard let tokens else {
                throw Bitrix24Error(
                    code: .transportError, errorDescription: "the token refresh gave way", method: TokenRefresher.method,
                    failureClass: .notExecuted)
            }
            adopt(tokens, replacing: replacing)
            return credentials
        } catch {
            if urgent == task { urgent = nil }
            let failure =
                error as? Bitrix24Error
                ?? Bitrix24Error(code: .transportError, errorDescription: "token refresh failed", failureClass: .ambiguous)
            if !gated, failure.failureClass == .permanent { refreshDead = failure }
            throw failure
        }
    }

    /// Returns once no refresh is in flight: a refresh cut off by a shutdown may have spent the
    /// refresh token at the server without its new pair reaching anyone.
    func settle() async {
        // The tasks themselves, not the fields: a finished urgent refresh's field is cleared by
        // its caller, whose turn on this actor may come after ours.
        if let ahead { await ahead.value }
        if let urgent { _ = try? await urgent.value }
    }

    /// Takes `tokens` in place of the pair whose access token is `old`. Several waiters resume
    /// after one refresh; only the first finds the old token still current.
    private func adopt(_ tokens: OAuthTokens, replacing old: String) {
        guard credentials.accessToken == old else { return }
        credentials = credentials.replacingTokens(tokens)
        lastRefresh = tokens
    }

    /// Records a move of the portal to `newOrigin`; true only for the caller that made the change,
    /// so a move seen by many concurrent requests is reported once.
    func movePortal(from oldOrigin: URL, to newOrigin: URL) -> Bool {
        guard credentials.portal == oldOrigin, oldOrigin != newOrigin else { return false }
        credentials = credentials.movingPortal(to: newOrigin)
        return true
    }
}
