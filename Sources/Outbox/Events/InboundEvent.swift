import Bitrix24
import Bitrix24Wire
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
        replaceNUL()
    }

    /// PostgreSQL text and jsonb cannot hold U+0000, and Bitrix24 never sends an event again:
    /// each NUL (in a value or a key) is stored as U+FFFD, and the entry says so.
    mutating func replaceNUL() {
        var replaced = false
        data = data.replacingNUL(&replaced)
        links = links.map { $0.replacingNUL(&replaced) }
        if replaced, case .object(var fields) = data {
            fields["nul_replaced"] = true
            data = .object(fields)
        }
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

extension JSONValue {
    /// This value with every U+0000 in its strings and keys replaced by U+FFFD. Keys are taken
    /// in order, so a key that becomes equal to another gains a suffix of its own (U+FFFD and
    /// its place in that order), the same way every time.
    func replacingNUL(_ replaced: inout Bool) -> JSONValue {
        func clean(_ text: String) -> String {
            guard text.utf8.contains(0) else { return text }
            replaced = true
            return String(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : Character($0) })
        }
        switch self {
        case .string(let text):
            return .string(clean(text))
        case .array(let items):
            return .array(items.map { $0.replacingNUL(&replaced) })
        case .object(let members):
            guard members.keys.contains(where: { $0.utf8.contains(0) }) else {
                return .object(members.mapValues { $0.replacingNUL(&replaced) })
            }
            var cleaned: [String: JSONValue] = [:]
            for (ordinal, key) in members.keys.sorted().enumerated() {
                var name = clean(key)
                while cleaned[name] != nil { name += "\u{FFFD}\(ordinal)" }
                cleaned[name] = members[key]!.replacingNUL(&replaced)
            }
            return .object(cleaned)
        default:
            return self
        }
    }
}
