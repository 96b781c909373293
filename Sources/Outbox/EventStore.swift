import Bitrix24
import Foundation
import Postgres

/// Inbound events in the log: who may send them, and storing each exactly once.
public enum EventStore {
    /// The portal an event claims to come from, with what proves it.
    public struct Sender: Sendable {
        public var portalID: Int64
        public var portalName: String
        /// The stored `auth[application_token]`; nil when the portal accepts no events.
        let applicationToken: String?

        /// Whether the event's `auth[application_token]` is this portal's, compared in constant time.
        public func verifies(_ auth: Bitrix24Event.Auth) -> Bool {
            guard let applicationToken else { return false }
            return auth.applicationTokenMatches(applicationToken)
        }
    }

    /// The portal named by `auth[member_id]` (preferred) or `auth[domain]`; nil when none matches.
    public static func sender(of auth: Bitrix24Event.Auth, on db: Connection) throws -> Sender? {
        let row: Row?
        if let memberID = auth.memberID, !memberID.isEmpty {
            row = try db.query(
                "SELECT id, name, application_token FROM outbox.portals WHERE member_id = $1", [memberID]).first
        } else if let domain = auth.domain?.lowercased(), !domain.isEmpty {
            // Domains are not unique by constraint: an ambiguous domain identifies nobody.
            let rows = try db.query(
                "SELECT id, name, application_token FROM outbox.portals WHERE lower(domain) = $1 LIMIT 2", [domain])
            row = rows.count == 1 ? rows.first : nil
        } else {
            row = nil
        }
        return try row.map { Sender(portalID: try $0.decode(0), portalName: try $0.decode(1), applicationToken: try $0.decode(2)) }
    }

    /// Stores the event for the portal in one transaction: the `bitrix.event` entry and its links
    /// to chat intents. An identical event stored before writes nothing.
    public static func record(_ event: InboundEvent, portalID: Int64, on db: Connection) throws -> EventReceipt {
        let row = try db.query(
            """
            SELECT event_seq, was_duplicate, array_to_string(linked_intents, ',')
              FROM outbox.record_event($1, $2, $3, $4)
            """,
            [portalID, event.fingerprint, JSONB(event.data.jsonString), JSONB(JSONValue.array(event.links).jsonString)]
        ).first!
        let linked = try row.decode(2, as: String.self).split(separator: ",").compactMap { Int64($0) }
        return EventReceipt(seq: try row.decode(0), duplicate: try row.decode(1), linkedIntents: linked)
    }
}
