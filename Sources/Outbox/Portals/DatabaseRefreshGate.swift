import Bitrix24
import Bitrix24Wire
import Dispatch
import Foundation
import Logging
import Postgres
import Synchronization

/// The token refresh gate of one portal whose token pair several worker processes share: a
/// refresh takes a turn recorded in `outbox.token_refreshes` (sql/017_token_refresh.sql), so
/// one process refreshes while the others find the new pair in the portal's row, and no
/// transaction (and no lock a producer could meet) stays open across the HTTP exchange.
///
/// - A pair the database did not take is kept (the client goes on with it) and stored again
///   until it is, since the refresh token it replaced is already dead.
/// - An exchange whose answer was lost (a timeout, a reset, a half answer) may have rotated the
///   pair at the server. It is recorded, logged and counted; the same refresh token is tried
///   once more, and a refusal then means the pair is lost: `portal.tokens_lost`, and the access
///   token in hand serves until it expires (a refresh ahead of the expiry leaves that time to
///   store a new pair with `portal set-tokens`).
/// - A refusal (`invalid_grant`) is checked against the database first: another process may
///   have stored a newer pair. Otherwise nobody tries that refresh token again.
final class DatabaseRefreshGate: Sendable {
    private let portalID: Int64
    private let portal: String
    /// Shared by every portal's gate of one `PortalClients`: libpq blocks, so each step runs on
    /// one of its threads, never on the Swift concurrency pool.
    private let database: DatabaseExecutor
    private let holder: String
    private let metrics: OutboxMetrics
    private let logger: Logger
    /// After an exchange that was not answered or not sent, how long until the next may start.
    static let retryDelay: Duration = .seconds(1)
    /// How often a waiting caller looks whether another holder's turn has ended.
    static let waitPoll: Duration = .milliseconds(100)
    /// A pair waiting to be stored again (and the access token it replaced); a newer one replaces it.
    private let pendingStore = Mutex<PendingStore?>(nil)

    struct PendingStore: Sendable {
        var tokens: OAuthTokens
        var replaced: String
        var task: Task<Void, Never>
    }

    init(portalID: Int64, portal: String, database: DatabaseExecutor, holder: String, metrics: OutboxMetrics, logger: Logger) {
        self.portalID = portalID
        self.portal = portal
        self.database = database
        self.holder = holder
        self.metrics = metrics
        self.logger = logger
    }

    var gate: TokenRefreshGate {
        { request, refresh in try await self.pass(request, refresh: refresh) }
    }

    private func pass(
        _ request: TokenRefreshRequest,
        refresh: @escaping @Sendable (String) async throws(Bitrix24Error) -> OAuthTokens
    ) async throws -> OAuthTokens? {
        // A pair this process holds and has not stored yet is the newest there is.
        if let pending = pendingStore.withLock({ $0 }), pending.replaced == request.replacing {
            return pending.tokens
        }
        // Each pass is a turn of its own: an answer about an earlier turn is never taken for this one's.
        let holder = "\(self.holder)/\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        let replacing = Self.sha(request.replacing)
        // The holder's turn: one exchange, and time to record its answer.
        let turn = request.exchangeLimit + .seconds(5)
        var retriedUnanswered = false
        while true {
            try Self.requireTime(request, after: .zero)
            let turnAnswer = try await database.run { db in
                try db.queryPrepared("""
                    SELECT outcome, access_token, refresh_token, expires_at, issued_at, wait, unanswered, error, took_over
                      FROM outbox.begin_token_refresh($1, $2, decode($3, 'hex'), make_interval(secs => $4))
                    """, [self.portalID, holder, replacing, turn.inSeconds]).first!
            }
            let outcome: String = try turnAnswer.decode(0)
            switch outcome {
            case "stored":
                return try Self.storedPair(turnAnswer, from: 1)
            case "wait":
                guard request.urgent else { return nil }
                let wait = Duration.milliseconds(Int64(try turnAnswer.decode(5, as: Double.self) * 1000))
                let pause = min(wait, Self.waitPoll)
                try Self.requireTime(request, after: pause)
                try await Task.sleep(for: pause)
                continue
            case "refused":
                throw Self.refused(try turnAnswer.decode(7, as: String?.self))
            case "refresh":
                if try turnAnswer.decode(8, as: Bool.self) {
                    // A holder's turn ran out mid-exchange (it stopped, or lost the database).
                    metrics.tokenRefresh("unanswered", portal: portal)
                    logger.error(
                        "a token refresh ended without an answer on record; the server may have rotated the pair",
                        metadata: ["portal": "\(portal)"])
                }
            default:
                throw Bitrix24Error(
                    code: .cannotRefresh, errorDescription: "the portal has no stored refresh token",
                    method: Bitrix24Client.tokenRefreshMethod, failureClass: .permanent)
            }
            let refreshToken: String = try turnAnswer.decode(2)
            let spent = Self.sha(refreshToken)
            let tokens: OAuthTokens
            do {
                tokens = try await refresh(refreshToken)
            } catch {
                let kind = Self.kind(of: error)
                let failed = try await database.run { db in
                    try db.queryPrepared("""
                        SELECT outcome, access_token, refresh_token, expires_at, issued_at
                          FROM outbox.fail_token_refresh($1, $2, decode($3, 'hex'), $4, make_interval(secs => $5), $6)
                        """, [self.portalID, holder, spent, kind, Self.retryDelay.inSeconds, Self.loggable(error.code)]).first!
                }
                switch try failed.decode(0, as: String.self) {
                case "stored":
                    // A refusal of a token another process had already replaced.
                    return try Self.storedPair(failed, from: 1)
                case "stale" where kind == "refused":
                    // Another holder took the turn over and decides: not this call's fault.
                    throw Bitrix24Error(
                        code: .transportError, errorDescription: "another process took the token refresh over",
                        method: Bitrix24Client.tokenRefreshMethod, failureClass: .notExecuted)
                case "lost":
                    metrics.tokenRefresh("lost", portal: portal)
                    logger.critical(
                        "the refresh token was spent by a refresh whose answer was lost; the pair is gone: store a new one with `portal set-tokens`",
                        metadata: ["portal": "\(portal)"])
                    throw Self.refused(error.code.rawValue, lost: true)
                default:
                    break
                }
                switch kind {
                case "unanswered":
                    metrics.tokenRefresh("unanswered", portal: portal)
                    logger.error(
                        "a token refresh got no answer; the server may have rotated the pair",
                        metadata: ["portal": "\(portal)", "b24.code": "\(Self.loggable(error.code))"])
                    // The same refresh token once more: if the server never took it, this works.
                    if !retriedUnanswered, (try? Self.requireTime(request, after: Self.retryDelay)) != nil {
                        retriedUnanswered = true
                        try await Task.sleep(for: Self.retryDelay)
                        continue
                    }
                case "refused":
                    metrics.tokenRefresh("refused", portal: portal)
                default:
                    metrics.tokenRefresh("failed", portal: portal)
                }
                throw error
            }
            metrics.tokenRefresh("refreshed", portal: portal)
            await store(tokens, replacing: request.replacing, spent: spent)
            return tokens
        }
    }

    /// Stores `tokens`; when the database does not take them, keeps storing them in the
    /// background until it does, or a newer pair is stored (or this process stops).
    private func store(_ tokens: OAuthTokens, replacing: String, spent: String) async {
        do {
            _ = try await database.run { db in try self.finish(tokens, spent: spent, on: db) }
        } catch {
            metrics.tokenRefresh("store_failed", portal: portal)
            logger.error(
                "the refreshed token pair was not stored; it stays in use and is stored again shortly",
                metadata: ["portal": "\(portal)", "error": "\(error)"])
            let task = Task.detached { [self] in await self.storeAgain(tokens, spent: spent) }
            pendingStore.withLock { pending in
                pending?.task.cancel()
                pending = PendingStore(tokens: tokens, replaced: replacing, task: task)
            }
        }
    }

    private func storeAgain(_ tokens: OAuthTokens, spent: String) async {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled {
            try? await Task.sleep(for: delay)
            do {
                let outcome = try await database.run(retryOnConnectionLoss: true) { db in try self.finish(tokens, spent: spent, on: db) }
                pendingStore.withLock { pending in
                    if pending?.tokens == tokens { pending = nil }
                }
                logger.notice(
                    outcome == "stored" ? "the refreshed token pair is stored" : "a newer token pair was stored meanwhile",
                    metadata: ["portal": "\(portal)"])
                return
            } catch {
                logger.error("the refreshed token pair is still not stored", metadata: ["portal": "\(portal)", "error": "\(error)"])
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Waits (up to `timeout`) for a pair that is still to be stored; false, and a critical
    /// log line, if it is not stored by then.
    func flush(timeout: Duration) async -> Bool {
        guard let pending = pendingStore.withLock({ $0 }) else { return true }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if pendingStore.withLock({ $0?.tokens != pending.tokens }) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        pending.task.cancel()
        logger.critical(
            "stopping with a refreshed token pair that was never stored: the portal's stored refresh token is dead; store a new pair with `portal set-tokens`",
            metadata: ["portal": "\(portal)"])
        return false
    }

    /// `stored`, or `superseded` when a newer pair was stored meanwhile.
    private func finish(_ tokens: OAuthTokens, spent: String, on db: Connection) throws -> String {
        try db.queryPrepared(
            "SELECT outbox.finish_token_refresh($1, decode($2, 'hex'), $3, $4, $5, $6)",
            [portalID, spent, tokens.accessToken, tokens.refreshToken, tokens.validUntil, tokens.issuedAt ?? Date()]
        ).first!.decode(0)
    }

    /// How an exchange failed, as `fail_token_refresh` records it: only `invalid_grant` says
    /// the refresh token is dead; an answer that may have been lost is `unanswered`; anything
    /// else (a refused connection, a wrong client secret) did not spend the token.
    static func kind(of error: Bitrix24Error) -> String {
        if error.code == .invalidGrant { return "refused" }
        return error.failureClass == .ambiguous ? "unanswered" : "not_sent"
    }

    /// The error code as the log may keep it: a code from the OAuth server's answer is only
    /// letters, digits, '_', '.' and '-' (anything else is not a code, and could carry anything).
    static func loggable(_ code: Bitrix24Error.Code) -> String {
        let text = code.rawValue
        let allowed = text.utf8.count <= 64 && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2E || byte == 0x2D
        }
        return allowed && !text.isEmpty ? text : "UNREADABLE_CODE"
    }

    private static func refused(_ code: String?, lost: Bool = false) -> Bitrix24Error {
        Bitrix24Error(
            code: .invalidGrant,
            errorDescription: (lost
                ? "the refresh token was spent by a refresh whose answer was lost"
                : "the OAuth server refused the stored refresh token (\(code ?? "invalid_grant"))")
                + "; store a new pair with `b24outbox portal set-tokens`",
            method: Bitrix24Client.tokenRefreshMethod, failureClass: .permanent)
    }

    private static func storedPair(_ row: Row, from column: Int) throws -> OAuthTokens {
        OAuthTokens(
            accessToken: try row.decode(column), refreshToken: try row.decode(column + 1),
            expiresAt: try row.decode(column + 2), issuedAt: try row.decode(column + 3))
    }

    /// Refuses to go on when an exchange started after `pause` could end after the deadline.
    private static func requireTime(_ request: TokenRefreshRequest, after pause: Duration) throws(Bitrix24Error) {
        guard let deadline = request.deadline, ContinuousClock.now + pause + request.exchangeLimit > deadline else { return }
        throw Bitrix24Error(
            code: .noTimeLeft, errorDescription: "no time is left to wait for the token refresh", method: Bitrix24Client.tokenRefreshMethod,
            failureClass: .notExecuted)
    }

    static func sha(_ token: String) -> String {
        var hash = SHA256()
        hash.update(Array(token.utf8))
        return hash.finish()
    }
}
