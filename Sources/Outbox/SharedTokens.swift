import Bitrix24
import Dispatch
import Foundation
import Postgres

/// The token refresh gate for portals whose token pair several worker processes share: the
/// portal's row is locked while one process refreshes; the others then find the new pair in
/// the row instead of refreshing with a refresh token that is already dead.
enum SharedTokens {
    static func gate(portalID: Int64, conninfo: String) -> TokenRefreshGate {
        { rejectedAccessToken, refresh in
            let session = try await onOwnThread { try LockedTokens(conninfo: conninfo, portalID: portalID) }
            do {
                if session.accessToken != rejectedAccessToken {
                    // Another process refreshed already: use its pair.
                    let stored = OAuthTokens(accessToken: session.accessToken, refreshToken: session.refreshToken)
                    try await onOwnThread { try session.commit() }
                    return stored
                }
                let tokens = try await refresh(session.refreshToken)
                try await onOwnThread { try session.store(tokens) }
                return tokens
            } catch {
                await onOwnThread { session.rollback() }
                throw error
            }
        }
    }

    /// libpq blocks; the Swift concurrency pool must not, so database steps run on a Dispatch thread.
    private static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    private static func onOwnThread(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                body()
                continuation.resume()
            }
        }
    }
}

/// A transaction holding the portal's row lock. Its connection is used by one step at a time,
/// each on some Dispatch thread, never concurrently.
private final class LockedTokens: @unchecked Sendable {
    let db: Connection
    let portalID: Int64
    let accessToken: String
    let refreshToken: String

    init(conninfo: String, portalID: Int64) throws {
        db = try Connection(conninfo)
        self.portalID = portalID
        try db.execute("BEGIN")
        guard let row = try db.query(
            "SELECT access_token, refresh_token FROM outbox.portals WHERE id = $1 FOR UPDATE", [portalID]).first,
            let access = try row.decode(0, as: String?.self), let refresh = try row.decode(1, as: String?.self)
        else {
            throw Bitrix24Error(code: .cannotRefresh, errorDescription: "the portal has no stored token pair", failureClass: .permanent)
        }
        accessToken = access
        refreshToken = refresh
    }

    func store(_ tokens: OAuthTokens) throws {
        try PortalStore.storeTokens(tokens, portalID: portalID, on: db)
        try commit()
    }

    func commit() throws {
        try db.execute("COMMIT")
        db.close()
    }

    func rollback() {
        _ = try? db.execute("ROLLBACK")
        db.close()
    }
}
