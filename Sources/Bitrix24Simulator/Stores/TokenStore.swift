import Foundation

/// OAuth tokens of the one installed application: which access tokens are valid until when,
/// and which refresh token is alive (only the latest: every refresh kills the one it used).
struct TokenStore: Sendable {
    enum Check: Equatable { case valid, expired, unknown }

    struct Issued: Sendable {
        var accessToken: String
        var refreshToken: String
        var expires: Date
    }

    private var accessExpiry: [String: Date] = [:]
    private var refreshExpiry: [String: Date] = [:]
    let accessLifetime: TimeInterval
    let refreshLifetime: TimeInterval
    /// The newest pair, which events carry.
    private(set) var current: Issued

    init(oauth: Simulator.OAuth, now: Date) {
        accessLifetime = oauth.accessTokenLifetime.inSeconds
        refreshLifetime = oauth.refreshTokenLifetime.inSeconds
        current = Issued(
            accessToken: oauth.accessToken, refreshToken: oauth.refreshToken,
            expires: now.addingTimeInterval(accessLifetime))
        accessExpiry[oauth.accessToken] = current.expires
        refreshExpiry[oauth.refreshToken] = now.addingTimeInterval(refreshLifetime)
    }

    func check(accessToken: String, now: Date) -> Check {
        guard let expiry = accessExpiry[accessToken] else { return .unknown }
        return now < expiry ? .valid : .expired
    }

    /// Uses up `refreshToken` and issues a new pair; nil when it is unknown, used or expired.
    mutating func refresh(_ refreshToken: String, now: Date) -> Issued? {
        guard let expiry = refreshExpiry.removeValue(forKey: refreshToken), now < expiry else { return nil }
        return issue(now: now)
    }

    /// A new pair, as when a user opens the application again: earlier refresh tokens stay as they are.
    mutating func issue(now: Date) -> Issued {
        let issued = Issued(
            accessToken: Self.newToken(), refreshToken: Self.newToken(),
            expires: now.addingTimeInterval(accessLifetime))
        accessExpiry[issued.accessToken] = issued.expires
        refreshExpiry[issued.refreshToken] = now.addingTimeInterval(refreshLifetime)
        current = issued
        return issued
    }

    /// Every access token issued so far expires now (tests: "the token expires mid-run").
    mutating func expireAccessTokens(now: Date) {
        for token in accessExpiry.keys { accessExpiry[token] = now }
        current.expires = now
    }

    /// Every refresh token dies (the application must be authorised again).
    mutating func revokeRefreshTokens() { refreshExpiry.removeAll() }

    /// Tokens look like the portal's: 70 hex characters.
    static func newToken() -> String { randomHex(count: 70) }
}

/// `count` random lowercase hex digits: the simulator's codes, tokens and ids.
func randomHex(count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdef")
    return String((0..<count).map { _ in digits[Int(generator.next() % 16)] })
}
