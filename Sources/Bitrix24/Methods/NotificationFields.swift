import Bitrix24Wire

/// The fields of `im.notify.personal.add` and `im.notify.system.add`.
///
/// A TAG makes a retry safe: sending again with the tag the recipient already has replaces the
/// old notification instead of adding a second one. Bitrix24 namespaces tags per application;
/// some older portal builds ignore TAG for webhook calls.
public struct NotificationFields: Sendable, Hashable {
    public var userID: Int64
    public var message: String
    /// Text for e-mail and push, when it should differ from `message`.
    public var messageOut: String?
    public var tag: String?
    public var subTag: String?
    /// An ATTACH object (`{"BLOCKS": [...], "COLOR": ...}`) or a bare array of blocks.
    public var attach: JSONValue?

    public init(
        userID: Int64, message: String, messageOut: String? = nil, tag: String? = nil,
        subTag: String? = nil, attach: JSONValue? = nil
    ) {
        self.userID = userID
        self.message = message
        self.messageOut = messageOut
        self.tag = tag
        self.subTag = subTag
        self.attach = attach
    }

    public var params: [String: JSONValue] {
        var p: [String: JSONValue] = ["USER_ID": .int(userID), "MESSAGE": .string(message)]
        p["MESSAGE_OUT"] = messageOut.map(JSONValue.string)
        p["TAG"] = tag.map(JSONValue.string)
        p["SUB_TAG"] = subTag.map(JSONValue.string)
        p["ATTACH"] = attach
        return p
    }

    /// What `im.notify.delete` removes: one notification, or every notification of the
    /// application with that tag or sub-tag (for all recipients).
    public enum DeleteTarget: Sendable, Hashable {
        case id(Int64)
        case tag(String)
        case subTag(String)

        public var params: [String: JSONValue] {
            switch self {
            case .id(let id): return ["ID": .int(id)]
            case .tag(let tag): return ["TAG": .string(tag)]
            case .subTag(let subTag): return ["SUB_TAG": .string(subTag)]
            }
        }
    }
}
