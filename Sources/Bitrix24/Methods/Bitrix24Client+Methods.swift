import Bitrix24Wire

extension Bitrix24Client {
    /// Runs one command on its own (not in a batch); `result: false` fails when the command says so.
    /// No exchange (the call, a redirect's re-POST, a token refresh) starts that could end after
    /// `deadline`: it fails `NO_TIME_LEFT`, not sent.
    public func execute(_ command: BatchCommand, deadline: ContinuousClock.Instant? = nil) async throws(Bitrix24Error) -> Bitrix24Response {
        let response = try await call(command.method, params: command.params, deadline: deadline)
        if command.resultFalseIsFailure, response.result == .bool(false) {
            throw .resultFalse(method: command.method)
        }
        return response
    }

    /// `im.chat.add`: creates a chat and returns its id. Bitrix24 has no idempotency key: look the
    /// entity pair up with `chatGet` first, and again after an ambiguous failure.
    public func chatAdd(_ fields: ChatFields) async throws(Bitrix24Error) -> Int64 {
        let response = try await execute(.chatAdd(key: "chat", fields))
        return try Self.id(in: response.result, method: response.method)
    }

    /// `im.chat.get`: the id of a chat bound to the entity pair, or nil when there is none.
    public func chatGet(entityType: String, entityID: String) async throws(Bitrix24Error) -> Int64? {
        let response = try await execute(.chatGet(key: "chat", entityType: entityType, entityID: entityID))
        return try Self.chatID(inChatGetResult: response.result, method: response.method)
    }

    /// `im.notify.personal.add` (sent as the calling user); returns the notification id.
    public func notifyPersonal(_ notification: NotificationFields) async throws(Bitrix24Error) -> Int64 {
        let response = try await execute(.notifyPersonal(key: "notify", notification))
        return try Self.id(in: response.result, method: response.method)
    }

    public func notifyPersonal(
        userID: Int64, message: String, messageOut: String? = nil, tag: String? = nil, subTag: String? = nil,
        attach: JSONValue? = nil
    ) async throws(Bitrix24Error) -> Int64 {
        try await notifyPersonal(
            NotificationFields(userID: userID, message: message, messageOut: messageOut, tag: tag, subTag: subTag, attach: attach))
    }

    /// `im.notify.system.add` (sent by the system); returns the notification id.
    public func notifySystem(_ notification: NotificationFields) async throws(Bitrix24Error) -> Int64 {
        let response = try await execute(.notifySystem(key: "notify", notification))
        return try Self.id(in: response.result, method: response.method)
    }

    public func notifySystem(
        userID: Int64, message: String, messageOut: String? = nil, tag: String? = nil, subTag: String? = nil,
        attach: JSONValue? = nil
    ) async throws(Bitrix24Error) -> Int64 {
        try await notifySystem(
            NotificationFields(userID: userID, message: message, messageOut: messageOut, tag: tag, subTag: subTag, attach: attach))
    }

    /// `im.notify.delete`; by tag or sub-tag it removes the application's notifications for all
    /// recipients. Returns what Bitrix24 answered (true when something was deleted).
    @discardableResult
    public func notifyDelete(_ target: NotificationFields.DeleteTarget) async throws(Bitrix24Error) -> Bool {
        let response = try await execute(.notifyDelete(key: "delete", target))
        switch response.result {
        case .bool(let deleted): return deleted
        case let other: return (other.intValue ?? 0) != 0
        }
    }

    @discardableResult
    public func notifyDelete(id: Int64) async throws(Bitrix24Error) -> Bool { try await notifyDelete(.id(id)) }

    @discardableResult
    public func notifyDelete(tag: String) async throws(Bitrix24Error) -> Bool { try await notifyDelete(.tag(tag)) }

    @discardableResult
    public func notifyDelete(subTag: String) async throws(Bitrix24Error) -> Bool { try await notifyDelete(.subTag(subTag)) }

    // MARK: Reading results (also for batch outcomes)

    /// The id a create method answered. Anything else after a success is ambiguous: the call ran,
    /// but what it created is unknown.
    public static func id(in result: JSONValue, method: String) throws(Bitrix24Error) -> Int64 {
        guard let id = result.intValue, id > 0 else {
            throw Bitrix24Error(
                code: .unexpectedResult, errorDescription: "expected a positive id, got \(result.kindDescription)",
                httpStatus: 200, method: method, failureClass: .ambiguous)
        }
        return id
    }

    /// The chat id in an `im.chat.get` result: `{"ID": 1437}`, or nil for `null`, the one
    /// well-formed "no such chat". Anything else is an ambiguous failure: taken for "none",
    /// it would lead to a second chat.
    public static func chatID(inChatGetResult result: JSONValue, method: String = "im.chat.get") throws(Bitrix24Error) -> Int64? {
        switch result {
        case .null: return nil
        default:
            guard case .object = result, let id = result["ID"]?.intValue, id > 0 else {
                throw Bitrix24Error(
                    code: .unexpectedResult, errorDescription: "expected {\"ID\": …} or null, got \(result.kindDescription)",
                    httpStatus: 200, method: method, failureClass: .ambiguous)
            }
            return id
        }
    }
}

extension JSONValue {
    /// The kind of value, for error text that must not echo the value itself.
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
