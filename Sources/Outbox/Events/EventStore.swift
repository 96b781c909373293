import Bitrix24
import Bitrix24Wire
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

    /// Every portal's sender, for `SenderDirectory`: one read of the portals table.
    public static func senders(on db: Connection) throws -> SenderDirectory.Snapshot {
        SenderDirectory.Snapshot(try db.query(
            "SELECT id, name, member_id, domain, application_token FROM outbox.portals"
        ).map { row in
            (memberID: try row.decode(2), domain: try row.decode(3),
             sender: Sender(portalID: try row.decode(0), portalName: try row.decode(1), applicationToken: try row.decode(4)))
        })
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
