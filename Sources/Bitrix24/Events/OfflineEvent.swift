import Bitrix24Wire

/// One record of the portal's offline event queue, from `event.offline.get` or
/// `event.offline.list`.
///
/// The portal prints every column as text (`"ID": "12"`); numbers are accepted as well.
public struct OfflineEvent: Sendable, Hashable {
    public var id: Int64
    /// `TIMESTAMP_X` as the portal printed it (`2026-11-23T10:00:00+03:00`): when the event was
    /// queued, or queued again with the same content.
    public var timestamp: String?
    /// Upper case, e.g. `ONIMCONNECTORDIALOGFINISH`.
    public var eventName: String
    /// `EVENT_DATA`: what an online handler would get under `data`.
    public var data: JSONValue
    /// `EVENT_ADDITIONAL`, e.g. `{"user_id": "1"}`.
    public var additional: JSONValue
    /// md5 of the event name and data: the same content has the same id.
    public var messageID: String
    /// The process that reserved it ("" when none); only `event.offline.list` shows it.
    public var processID: String?
    /// Marked as failed; only `event.offline.list` shows it.
    public var error: Bool?

    public init(
        id: Int64, timestamp: String? = nil, eventName: String, data: JSONValue = .null,
        additional: JSONValue = .null, messageID: String, processID: String? = nil, error: Bool? = nil
    ) {
        self.id = id
        self.timestamp = timestamp
        self.eventName = eventName
        self.data = data
        self.additional = additional
        self.messageID = messageID
        self.processID = processID
        self.error = error
    }

    /// Reads one record; a record without a positive ID, an event name or a message id is an
    /// `UNEXPECTED_RESULT` naming the missing field (never echoing the record).
    public init(json: JSONValue, method: String) throws(Bitrix24Error) {
        func malformed(_ what: String) -> Bitrix24Error {
            Bitrix24Error(
                code: .unexpectedResult, errorDescription: "an offline event \(what)", httpStatus: 200, method: method)
        }
        guard case .object = json else { throw malformed("is \(json.kindDescription), not an object") }
        guard let id = json["ID"]?.intValue, id > 0 else { throw malformed("has no positive ID") }
        guard let name = json["EVENT_NAME"]?.stringValue, !name.isEmpty else { throw malformed("has no EVENT_NAME") }
        guard let messageID = json["MESSAGE_ID"]?.stringValue else { throw malformed("has no MESSAGE_ID") }
        let error: Bool?
        switch json["ERROR"] {
        case nil, .null: error = nil
        case .bool(let flag): error = flag
        case let value?:
            guard let number = value.intValue else { throw malformed("has an ERROR that is not 0 or 1") }
            error = number != 0
        }
        self.init(
            id: id, timestamp: json["TIMESTAMP_X"]?.stringValue, eventName: name, data: json["EVENT_DATA"] ?? .null,
            additional: json["EVENT_ADDITIONAL"] ?? .null, messageID: messageID,
            processID: json["PROCESS_ID"].flatMap { $0.isNull ? nil : ($0.stringValue ?? "") }, error: error)
    }
}

/// What `event.offline.get` answered: the process that holds the events (nil when they were
/// cleared on reading), and the events.
public struct OfflineEvents: Sendable, Hashable {
    public var processID: String?
    public var events: [OfflineEvent]

    public init(processID: String?, events: [OfflineEvent]) {
        self.processID = processID
        self.events = events
    }

    /// Reads `{"process_id": "…" | null, "events": [ … ]}`.
    public init(json: JSONValue, method: String = "event.offline.get") throws(Bitrix24Error) {
        guard let items = json["events"]?.arrayValue else {
            throw Bitrix24Error(
                code: .unexpectedResult,
                errorDescription: "expected {\"process_id\", \"events\": […]}, got \(json.kindDescription)",
                httpStatus: 200, method: method)
        }
        let processID = json["process_id"]?.stringValue
        var events: [OfflineEvent] = []
        for item in items { events.append(try OfflineEvent(json: item, method: method)) }
        self.init(processID: processID.flatMap { $0.isEmpty ? nil : $0 }, events: events)
    }
}
