import Bitrix24
import Bitrix24Wire
import Foundation
import Postgres

/// Writes intents, inside the caller's transaction when there is one: if that transaction
/// rolls back, no intent and no log entry remain. Validation happens in the database
/// (`outbox.enqueue`), so every producer, in any language, meets the same rules.
public enum Producer {
    /// Enqueues one intent and returns its id (the existing id for a repeated key).
    public static func enqueue(_ intent: NewIntent, on db: Connection) throws -> Int64 {
        try mappingErrors {
            try db.query(
                "SELECT outbox.enqueue($1, $2, $3, $4, $5)",
                [intent.portal, intent.kind.rawValue, JSONB(JSONValue.object(intent.payload).jsonString),
                 intent.key, intent.notBefore]
            ).first!.decode(0, as: Int64.self)
        }
    }

    /// Enqueues many intents in one round trip, all or none; ids come back in input order.
    public static func enqueue(_ intents: [NewIntent], on db: Connection) throws -> [Int64] {
        guard !intents.isEmpty else { return [] }
        return try mappingErrors {
            try db.query(
                "SELECT outbox.enqueue_many($1, $2, $3, $4, $5)",
                [intents.map(\.portal), intents.map(\.kind.rawValue),
                 intents.map { JSONB(JSONValue.object($0.payload).jsonString) },
                 intents.map(\.key), intents.map(\.notBefore)]
            ).map { try $0.decode(0, as: Int64.self) }
        }
    }

    /// Validation failures become `EnqueueError`s naming the field.
    private static func mappingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresError where error.code == .invalidParameterValue {
            throw EnqueueError(field: error.column ?? "intent", message: error.message)
        }
    }
}

/// An intent that was refused; nothing was written.
public struct EnqueueError: Error, Sendable, CustomStringConvertible {
    /// The offending field (`USER_ID`, `ATTACH`, `portal`…).
    public var field: String
    /// What was wrong, naming the field: `USER_ID: must be a positive integer user id…`.
    public var message: String

    public var description: String { message }
}
