import Bitrix24Wire

/// `ONIMCONNECTORDIALOGFINISH`: an open-line dialog of a custom connector was closed.
///
/// Form bodies carry every scalar as a string and JSON bodies as numbers; both are read.
public struct DialogFinishEvent: Sendable, Hashable {
    public static let eventName = "ONIMCONNECTORDIALOGFINISH"

    /// `data.CONNECTOR`, the connector id.
    public var connector: String
    /// `data.LINE`, the open line id.
    public var line: Int64
    /// `data.DATA`, one entry per closed dialog.
    public var sessions: [Session]

    public struct Session: Sendable, Hashable {
        public var connector: Connector
        public var sessionID: Int64
        /// `session.closed == "Y"`.
        public var closed: Bool
        public var parentID: Int64?
        /// Minutes until the session closes (`session.close_term`).
        public var closeTerm: Int64?
        /// `chat.id` (the connector's `chat_id` when `chat` is absent).
        public var chatID: Int64
        /// `user.id`: the user in the external system, so kept as text.
        public var userID: String?
    }

    public struct Connector: Sendable, Hashable {
        public var connectorID: String
        public var lineID: Int64
        public var chatID: Int64
        /// The user in the external system, kept as text.
        public var userID: String?
    }

    public init(_ event: Bitrix24Event) throws(Bitrix24Event.DecodingError) {
        guard event.event == Self.eventName else {
            throw Bitrix24Event.DecodingError("expected \(Self.eventName), got \(event.event)")
        }
        guard case .object = event.data else { throw Bitrix24Event.DecodingError("missing data") }
        let data = event.data
        connector = try EventField.requiredString(data["CONNECTOR"], at: "data.CONNECTOR")
        line = try EventField.requiredInt(data["LINE"], at: "data.LINE")
        var items = try EventField.list(data["DATA"], at: "data.DATA")
        // One dialog written without the list around it.
        if items.isEmpty, data["DATA"]?["session"] != nil, let single = data["DATA"] { items = [single] }
        sessions = []
        for (i, item) in items.enumerated() {
            sessions.append(try Session(item, at: "data.DATA[\(i)]"))
        }
    }
}

extension DialogFinishEvent.Session {
    init(_ item: JSONValue, at path: String) throws(Bitrix24Event.DecodingError) {
        guard let c = try EventField.object(item["connector"], at: "\(path).connector") else {
            throw Bitrix24Event.DecodingError("missing \(path).connector")
        }
        guard let s = try EventField.object(item["session"], at: "\(path).session") else {
            throw Bitrix24Event.DecodingError("missing \(path).session")
        }
        let chat = try EventField.object(item["chat"], at: "\(path).chat")
        let user = try EventField.object(item["user"], at: "\(path).user")

        connector = DialogFinishEvent.Connector(
            connectorID: try EventField.requiredString(c["connector_id"], at: "\(path).connector.connector_id"),
            lineID: try EventField.requiredInt(c["line_id"], at: "\(path).connector.line_id"),
            chatID: try EventField.requiredInt(c["chat_id"], at: "\(path).connector.chat_id"),
            userID: try EventField.string(c["user_id"], at: "\(path).connector.user_id"))
        sessionID = try EventField.requiredInt(s["id"], at: "\(path).session.id")
        guard let closed = try EventField.bool(s["closed"], at: "\(path).session.closed") else {
            throw Bitrix24Event.DecodingError("missing \(path).session.closed")
        }
        self.closed = closed
        parentID = try EventField.int(s["parent_id"], at: "\(path).session.parent_id")
        closeTerm = try EventField.int(s["close_term"], at: "\(path).session.close_term")
        chatID = try EventField.int(chat?["id"], at: "\(path).chat.id") ?? connector.chatID
        userID = try EventField.string(user?["id"], at: "\(path).user.id")
    }
}
