import Bitrix24
import Foundation

/// An event from Bitrix24 as the log stores it: without any token, with its dialog-finish
/// sessions decoded, and with what identifies a redelivery of it.
public struct InboundEvent: Sendable, Hashable {
    /// What is written to the log as the entry's data.
    public var data: JSONValue
    /// Chats this event is about, each with what to tell the intent that created the chat.
    public var links: [JSONValue]
    /// nil: a redelivery is recognised by its token-free content.
    public var fingerprint: String?

    /// A pushed event (`POST /bitrix24/events`), verified by the caller.
    public init(pushed event: Bitrix24Event) {
        var data: [String: JSONValue] = [
            "event": .string(event.event),
            "source": "push",
            "payload": event.withoutTokens(),
        ]
        data["event_handler_id"] = event.eventHandlerID.map(JSONValue.int)
        data["ts"] = event.ts.map(JSONValue.int)
        data["domain"] = event.auth.domain.map(JSONValue.string)
        data["member_id"] = event.auth.memberID.map(JSONValue.string)
        self.fingerprint = nil
        self.links = []
        self.data = .object(data)
        decodeDialog(event)
    }

    /// A dialog-finish event gains its typed form and links; one that cannot be read is still
    /// stored (Bitrix24 never sends it again), with the reason.
    mutating func decodeDialog(_ event: Bitrix24Event) {
        guard event.event == DialogFinishEvent.eventName else { return }
        guard case .object(var data) = data else { return }
        do {
            let dialog = try DialogFinishEvent(event)
            let sessions = dialog.sessions.map { session -> JSONValue in
                var fields: [String: JSONValue] = [
                    "chat_id": .int(session.chatID), "session_id": .int(session.sessionID),
                    "closed": .bool(session.closed), "connector": .string(dialog.connector), "line": .int(dialog.line),
                ]
                fields["user_id"] = session.userID.map(JSONValue.string)
                fields["parent_id"] = session.parentID.map(JSONValue.int)
                fields["close_term"] = session.closeTerm.map(JSONValue.int)
                return .object(fields)
            }
            data["dialog"] = ["connector": .string(dialog.connector), "line": .int(dialog.line), "sessions": .array(sessions)]
            // What `b24outbox log --chat ID` looks for.
            data["chat_ids"] = .array(Array(Set(dialog.sessions.map(\.chatID))).sorted().map(JSONValue.int))
            links = sessions
        } catch {
            data["decode_error"] = .string(error.description)
        }
        self.data = .object(data)
    }
}

/// Where an event was stored.
public struct EventReceipt: Sendable, Hashable {
    /// The `bitrix.event` log entry (the first one, for a redelivery).
    public var seq: Int64
    /// True when an identical event was stored before: nothing new was written.
    public var duplicate: Bool
    /// Chat intents that got a `chat.dialog_finished` entry.
    public var linkedIntents: [Int64]
}
