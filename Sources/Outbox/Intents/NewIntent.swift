import Bitrix24
import Bitrix24Wire
import Foundation

/// An intent as a producer describes it, before it has an id.
public struct NewIntent: Sendable, Hashable {
    public var portal: String
    public var kind: IntentKind
    /// Exactly the Bitrix24 fields of the call (`USER_ID`, `MESSAGE`, `TAG`, `ATTACH`…).
    public var payload: [String: JSONValue]
    /// Unique per portal and kind; a repeat returns the existing intent. Derived when nil.
    public var key: String?
    /// Deliver no earlier than this.
    public var notBefore: Date?

    public init(portal: String, kind: IntentKind, payload: [String: JSONValue], key: String? = nil, notBefore: Date? = nil) {
        self.portal = portal
        self.kind = kind
        self.payload = payload
        self.key = key
        self.notBefore = notBefore
    }

    /// A personal notification (sent as the webhook's or app's user), or a system one.
    public static func notification(
        portal: String, user: Int64, message: String, tag: String? = nil, attach: JSONValue? = nil,
        system: Bool = false, key: String? = nil, notBefore: Date? = nil
    ) -> NewIntent {
        var payload: [String: JSONValue] = ["USER_ID": .int(user), "MESSAGE": .string(message)]
        if let tag { payload["TAG"] = .string(tag) }
        if let attach { payload["ATTACH"] = attach }
        return NewIntent(
            portal: portal, kind: system ? .notifySystem : .notifyPersonal, payload: payload, key: key,
            notBefore: notBefore)
    }

    /// A chat (`im.chat.add` fields: TYPE, TITLE, DESCRIPTION, COLOR, MESSAGE, USERS, AVATAR…).
    public static func chat(
        portal: String, fields: [String: JSONValue], key: String? = nil, notBefore: Date? = nil
    ) -> NewIntent {
        NewIntent(portal: portal, kind: .chatCreate, payload: fields, key: key, notBefore: notBefore)
    }
}
