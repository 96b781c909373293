import Bitrix24
import Bitrix24Wire
import Foundation
import Postgres

/// Portals and their secrets. Secrets are written to `outbox.portals` only; the log entries
/// that record changes to a portal name what changed, never the value.
public enum PortalStore {
    public struct PortalError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    @discardableResult
    public static func add(_ registration: PortalRegistration, on db: Connection) throws -> Portal {
        let c = registration.credentials
        let domain = registration.domain ?? c.portal.host
        guard PortalRegistration.rateBuckets.contains(registration.rateBucket) else {
            throw PortalError(description: "the rate bucket must be between 1 and 1000000 requests")
        }
        guard PortalRegistration.rateDrains.contains(registration.rateDrain) else {
            throw PortalError(description: "the rate drain must be between 0.01 and 1000000 requests per second")
        }
        do {
            return try db.transaction { db in
                let id: Int64 = try db.query("""
                    INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code,
                        access_token, refresh_token, client_id, client_secret, application_token, member_id,
                        domain, rate_bucket, rate_drain, oauth_token_url, token_expires_at, token_issued_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                            CASE WHEN $16::timestamptz IS NOT NULL THEN coalesce($17, now()) END)
                    RETURNING id
                    """, [
                        registration.name, c.portal.absoluteString, c.isWebhook ? "webhook" : "oauth",
                        c.webhookUserID, c.webhookCode, c.accessToken, c.refreshToken, c.clientID, c.clientSecret,
                        registration.applicationToken, registration.memberID, domain,
                        Int32(clamping: registration.rateBucket), registration.rateDrain,
                        registration.tokenEndpoint?.absoluteString, c.accessTokenExpiresAt, c.accessTokenIssuedAt,
                    ]).first!.decode(0)
                try appendLog(portalID: id, name: registration.name, type: LogType.portalAdded, data: [
                    "auth_kind": .string(c.isWebhook ? "webhook" : "oauth"),
                    "base_url": .string(c.portal.absoluteString),
                    "accepts_events": .bool(registration.applicationToken != nil),
                    "rate_bucket": .int(Int64(registration.rateBucket)), "rate_drain": .double(registration.rateDrain),
                ], on: db)
                return try portal(id: id, on: db)
            }
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw PortalError(description: error.constraint == "portals_name_key"
                ? "a portal named \(registration.name) exists already; remove it first or pick another name"
                : "another portal has member id \(registration.memberID ?? "")")
        } catch let error as PostgresError where error.code == .checkViolation {
            throw PortalError(description: "invalid portal settings (\(error.constraint ?? "check")): "
                + "names are letters, digits, '.', '_' or '-'; the bucket and drain must be positive")
        }
    }

    public static func list(on db: Connection) throws -> [Portal] {
        try db.query("\(selectPortal) ORDER BY name").map(decodePortal)
    }

    public static func portal(named name: String, on db: Connection) throws -> Portal? {
        try db.query("\(selectPortal) WHERE name = $1", [name]).first.map(decodePortal)
    }

    static func portal(id: Int64, on db: Connection) throws -> Portal {
        guard let row = try db.query("\(selectPortal) WHERE id = $1", [id]).first else {
            throw PortalError(description: "portal \(id) does not exist")
        }
        return try decodePortal(row)
    }

    /// Removes a portal that has no intents (their audit trail would lose its portal).
    public static func remove(named name: String, on db: Connection) throws {
        try db.transaction { db in
            // The database's own check of intents (sql/012) reads the latest ones only here.
            try db.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            guard let portal = try db.query("SELECT id FROM outbox.portals WHERE name = $1 FOR UPDATE", [name]).first else {
                throw PortalError(description: "there is no portal named \(name)")
            }
            let id: Int64 = try portal.decode(0)
            // Counted by their keys, whose primary key starts with the portal (every intent has one).
            let intents: Int = try db.query("SELECT count(*) FROM outbox.intent_keys WHERE portal_id = $1", [id]).first!.decode(0)
            guard intents == 0 else {
                throw PortalError(description: "portal \(name) has \(intents) intents; it stays so their audit trail keeps its portal")
            }
            try db.execute("DELETE FROM outbox.portals WHERE id = $1", [id])
            try appendLog(portalID: id, name: name, type: LogType.portalRemoved, data: [:], on: db)
        }
    }

    /// Pauses or resumes a portal's delivery: a paused portal is not claimed, so its intents
    /// wait, neither sent nor spending attempts; claims already made finish. Returns false, and
    /// writes nothing, when the portal is in that state already.
    @discardableResult
    public static func setState(_ state: Portal.State, portal name: String, by: String, on db: Connection) throws -> Bool {
        try db.transaction { db in
            guard let row = try db.query(
                "SELECT id, state FROM outbox.portals WHERE name = $1 FOR NO KEY UPDATE", [name]).first else {
                throw PortalError(description: "there is no portal named \(name)")
            }
            let id: Int64 = try row.decode(0)
            guard try row.decode(1, as: String.self) != state.rawValue else { return false }
            try db.execute(
                "UPDATE outbox.portals SET state = $2, state_changed_at = now(), updated_at = now() WHERE id = $1",
                [id, state.rawValue])
            if state == .active {
                // A claim dropped the paused portal's turn; its pending intents need one again.
                try db.execute("INSERT INTO outbox.portal_wakeups (portal_id, due_at) VALUES ($1, now())", [id])
            }
            try appendLog(portalID: id, name: name, type: state == .paused ? LogType.portalPaused : LogType.portalResumed,
                          data: ["by": .string(by)], on: db)
            return true
        }
    }

    /// The credentials to call a portal with, secrets included: for the worker only.
    public static func credentials(
        portalID: Int64, on db: Connection
    ) throws -> (credentials: Bitrix24Credentials, tokenEndpoint: URL?, name: String) {
        guard let row = try db.query("""
            SELECT base_url, auth_kind, webhook_user_id, webhook_code, access_token, refresh_token,
                   client_id, client_secret, oauth_token_url, name, token_expires_at, token_issued_at
              FROM outbox.portals WHERE id = $1
            """, [portalID]).first else {
            throw PortalError(description: "portal \(portalID) does not exist")
        }
        let base: String = try row.decode(0)
        let insecure = base.hasPrefix("http://")
        let tokenEndpoint = try row.decode(8, as: String?.self).flatMap(URL.init(string:))
        let name: String = try row.decode(9)
        do {
            if try row.decode(1, as: String.self) == "webhook" {
                let url = "\(base.hasSuffix("/") ? String(base.dropLast()) : base)/rest/\(try row.decode(2, as: Int64.self))/\(try row.decode(3, as: String.self))/"
                return (try Bitrix24Credentials.webhook(url, allowInsecureHTTP: insecure), tokenEndpoint, name)
            }
            return (try Bitrix24Credentials.oauth(
                portal: URL(string: base)!, accessToken: try row.decode(4), refreshToken: try row.decode(5),
                clientID: try row.decode(6), clientSecret: try row.decode(7), accessTokenExpiresAt: try row.decode(10),
                accessTokenIssuedAt: try row.decode(11), allowInsecureHTTP: insecure), tokenEndpoint, name)
        } catch let error as Bitrix24Credentials.ParseError {
            throw PortalError(description: "portal \(portalID) has unusable credentials: \(error.reason)")
        }
    }

    /// Stores a new token pair for an OAuth portal (the application was authorised again):
    /// any refusal of the old refresh token is forgotten, and the log records who did it.
    public static func setTokens(
        portal name: String, accessToken: String, refreshToken: String, expiresAt: Date?, by: String, on db: Connection
    ) throws {
        do {
            _ = try db.query("SELECT outbox.set_portal_tokens($1, $2, $3, $4, $5)", [name, accessToken, refreshToken, expiresAt, by])
        } catch let error as PostgresError where [.noDataFound, .wrongObjectType, .invalidParameterValue].contains(error.code) {
            throw PortalError(description: error.message)
        }
    }

    /// Records a renamed portal's new address (Bitrix24 answered 302).
    public static func storeMovedAddress(_ url: URL, portalID: Int64, on db: Connection) throws {
        try db.transaction { db in
            let row = try db.query("""
                UPDATE outbox.portals p SET base_url = $2, updated_at = now()
                  FROM (SELECT base_url FROM outbox.portals WHERE id = $1 FOR NO KEY UPDATE) old
                 WHERE p.id = $1 RETURNING p.name, old.base_url
                """, [portalID, url.absoluteString]).first!
            let (name, old): (String, String) = (try row.decode(0), try row.decode(1))
            try appendLog(portalID: portalID, name: name, type: LogType.portalMoved,
                          data: ["from": .string(old), "to": .string(url.absoluteString)], on: db)
        }
    }

    private static func appendLog(portalID: Int64, name: String, type: String, data: [String: JSONValue], on db: Connection) throws {
        try db.execute(
            "INSERT INTO outbox.log (stream, type, portal_id, data) VALUES ($1, $2, $3, $4)",
            ["portal-\(name)", type, portalID, JSONB(JSONValue.object(data).jsonString)])
    }

    private static let selectPortal = """
        SELECT id, name, base_url, auth_kind, webhook_user_id, member_id, domain,
               application_token IS NOT NULL,
               refresh_token IS NOT NULL AND client_id IS NOT NULL AND client_secret IS NOT NULL,
               rate_bucket, rate_drain, state
          FROM outbox.portals
        """

    private static func state(_ text: String) throws -> Portal.State {
        guard let state = Portal.State(rawValue: text) else {
            throw PortalError(description: "a portal has the state \(text), which this build does not know; upgrade it")
        }
        return state
    }

    private static func decodePortal(_ row: Row) throws -> Portal {
        Portal(
            id: try row.decode(0), name: try row.decode(1), baseURL: try row.decode(2), authKind: try row.decode(3),
            webhookUserID: try row.decode(4), memberID: try row.decode(5), domain: try row.decode(6),
            acceptsEvents: try row.decode(7), canRefresh: try row.decode(8),
            rateBucket: try row.decode(9), rateDrain: try row.decode(10),
            state: try state(row.decode(11)))
    }
}
