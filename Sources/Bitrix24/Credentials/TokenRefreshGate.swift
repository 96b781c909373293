/// What a client asks of a `TokenRefreshGate`.
public struct TokenRefreshRequest: Sendable {
    /// The access token to replace.
    public var replacing: String
    /// True when the token was refused or has run out: the caller needs a new one and waits for
    /// a refresh under way elsewhere. False for a refresh ahead of the expiry, which gives way
    /// to one under way elsewhere (the token in hand still works).
    public var urgent: Bool
    /// No exchange may start that could end after this (a worker's lease); nil: no limit.
    public var deadline: ContinuousClock.Instant?
    /// The longest one exchange with the OAuth server takes (the client's request timeout).
    public var exchangeLimit: Duration

    public init(replacing: String, urgent: Bool, deadline: ContinuousClock.Instant?, exchangeLimit: Duration) {
        self.replacing = replacing
        self.urgent = urgent
        self.deadline = deadline
        self.exchangeLimit = exchangeLimit
    }
}

/// Wraps every token refresh of a client. Several processes that share one OAuth token pair
/// must take turns: each refresh kills the previous refresh token, so a second process
/// refreshing with the old one would get `invalid_grant`. A gate returns the stored pair when
/// another process already replaced `request.replacing`, and otherwise calls `refresh` with the
/// stored refresh token and stores the result; it returns nil only when the request is not
/// urgent and another process is refreshing now.
public typealias TokenRefreshGate = @Sendable (
    _ request: TokenRefreshRequest,
    _ refresh: @escaping @Sendable (_ refreshToken: String) async throws(Bitrix24Error) -> OAuthTokens
) async throws -> OAuthTokens?

extension TokenRefresher {
    /// This refresher behind a gate: the gate decides whether to refresh, and with which token.
    func gated(by gate: @escaping TokenRefreshGate) -> CredentialStore.Refresher {
        { (secrets: Bitrix24Credentials.OAuthSecrets, request: TokenRefreshRequest) async throws(Bitrix24Error) -> OAuthTokens? in
            do {
                return try await gate(request) { (refreshToken: String) async throws(Bitrix24Error) -> OAuthTokens in
                    var current = secrets
                    current.refreshToken = refreshToken
                    return try await self.refresh(current)
                }
            } catch let error as Bitrix24Error {
                throw error
            } catch {
                // The gate's own failure (its database, a cancellation): the call did not run.
                throw Bitrix24Error(
                    code: .transportError, errorDescription: "token refresh failed: \(type(of: error))",
                    method: TokenRefresher.method, failureClass: .notExecuted)
            }
        }
    }

    /// This refresher on its own (one process owns the pair): every request refreshes.
    var ungated: CredentialStore.Refresher {
        { (secrets: Bitrix24Credentials.OAuthSecrets, _: TokenRefreshRequest) async throws(Bitrix24Error) -> OAuthTokens? in
            try await self.refresh(secrets)
        }
    }
}
