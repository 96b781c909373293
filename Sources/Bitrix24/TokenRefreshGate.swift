/// Wraps every token refresh of a client. Several processes that share one OAuth token pair
/// must take turns: each refresh kills the previous refresh token, so a second process
/// refreshing with the old one would get `invalid_grant`. A gate typically locks the stored
/// pair, returns it if another process already replaced `rejectedAccessToken`, and otherwise
/// calls `refresh` with the stored refresh token and stores the result before unlocking.
public typealias TokenRefreshGate = @Sendable (
    _ rejectedAccessToken: String,
    _ refresh: @escaping @Sendable (_ refreshToken: String) async throws -> OAuthTokens
) async throws -> OAuthTokens

extension TokenRefresher {
    /// This refresher behind a gate: the gate decides whether to refresh, and with which token.
    func gated(by gate: @escaping TokenRefreshGate) -> CredentialStore.Refresher {
        { (secrets: Bitrix24Credentials.OAuthSecrets) async throws(Bitrix24Error) -> OAuthTokens in
            do {
                return try await gate(secrets.accessToken) { refreshToken in
                    var current = secrets
                    current.refreshToken = refreshToken
                    return try await self.refresh(current)
                }
            } catch let error as Bitrix24Error {
                throw error
            } catch {
                throw Bitrix24Error(
                    code: .transportError, errorDescription: "token refresh failed: \(type(of: error))",
                    failureClass: .notExecuted)
            }
        }
    }
}
