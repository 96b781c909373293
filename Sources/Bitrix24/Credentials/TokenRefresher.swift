import Bitrix24Wire
import Foundation
import Logging
import NIOHTTP1

extension Bitrix24Client {
    /// The method name a token refresh's failures carry.
    public static let tokenRefreshMethod = TokenRefresher.method
}

/// Exchanges a refresh token for a new pair at the OAuth server:
/// `GET TOKEN_ENDPOINT?grant_type=refresh_token&client_id=…&client_secret=…&refresh_token=…`.
///
/// The URL carries secrets, so it is never logged or put into an error.
struct TokenRefresher: Sendable {
    let transport: any HTTPTransport
    let configuration: Bitrix24Client.Configuration
    let allowInsecureHTTP: Bool
    let logger: Logger
    let onTokensRefreshed: (@Sendable (OAuthTokens) async -> Void)?

    /// The name refresh failures carry as their method.
    static let method = "oauth.token"

    func refresh(_ secrets: Bitrix24Credentials.OAuthSecrets) async throws(Bitrix24Error) -> OAuthTokens {
        let method = Self.method
        guard let refreshToken = secrets.refreshToken, let clientID = secrets.clientID,
            let clientSecret = secrets.clientSecret
        else {
            throw Bitrix24Error(code: .cannotRefresh, errorDescription: "missing refresh token, client id or client secret", method: method)
        }
        let allSecrets = [refreshToken, clientSecret, secrets.accessToken]
        let endpoint = configuration.tokenEndpoint
        guard endpoint.scheme == "https" || (endpoint.scheme == "http" && allowInsecureHTTP), endpoint.query == nil,
            let url = URL(string: endpoint.absoluteString + "?" + PHPForm.encode([
                "grant_type": "refresh_token", "client_id": .string(clientID),
                "client_secret": .string(clientSecret), "refresh_token": .string(refreshToken),
            ]))
        else {
            throw Bitrix24Error(
                code: .invalidArgument, errorDescription: "the token endpoint must be an https URL without a query",
                method: method)
        }

        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "User-Agent", value: configuration.userAgent)
        let started = ContinuousClock.now
        // The server issues the pair after this: its expires_in counts from no earlier.
        let sent = Date()
        do throws(Bitrix24Error) {
            let response = try await transport.send(
                HTTPRequestData(method: .GET, url: url, headers: headers), timeout: configuration.requestTimeout)
            var tokens = try Self.decode(response, method: method, secrets: allSecrets)
            tokens.issuedAt = sent
            logger.info(
                "bitrix24 token refreshed",
                metadata: [
                    "b24.status": "\(response.status)",
                    "b24.duration_ms": "\(Int(started.duration(to: .now).milliseconds))",
                    "b24.member_id": "\(tokens.memberID ?? "")",
                ])
            await onTokensRefreshed?(tokens)
            return tokens
        } catch {
            var failure = error.scrubbed(of: allSecrets)
            if failure.method == nil { failure.method = method }
            logger.warning(
                "bitrix24 token refresh failed",
                metadata: ["b24.code": "\(failure.code)", "b24.class": "\(failure.failureClass)"])
            throw failure
        }
    }

    /// `invalid_grant` (the refresh token is gone) is permanent; so is an expired-token answer
    /// from the token endpoint itself, since refreshing again cannot fix it.
    static func decode(_ response: HTTPResponseData, method: String, secrets: [String] = []) throws(Bitrix24Error) -> OAuthTokens {
        let contentType = response.headers.first(name: "Content-Type")
        guard let json = try? JSONValue(jsonData: response.body) else {
            throw Bitrix24Response.invalidResponse(
                method: method, status: response.status, contentType: contentType, body: response.body, what: "a non-JSON body", secrets: secrets)
        }
        if var error = Bitrix24Response.envelopeError(json, method: method, status: response.status) {
            if error.failureClass == .tokenExpired { error.failureClass = .permanent }
            throw error
        }
        guard (200..<300).contains(response.status), let tokens = OAuthTokens(json: json) else {
            throw Bitrix24Response.invalidResponse(
                method: method, status: response.status, contentType: contentType, body: [],
                what: "JSON without a token pair")
        }
        return tokens
    }
}
