import Bitrix24Wire

/// The fields of `im.chat.add`. Bitrix24 validates lengths itself (TITLE ≤ 255, ENTITY_TYPE ≤ 50,
/// ENTITY_ID ≤ 255); `OWNER_ID` is left out because current portals ignore it.
public struct ChatFields: Sendable, Hashable {
    public enum ChatType: String, Sendable, Hashable, CaseIterable {
        case chat = "CHAT"
        case open = "OPEN"
    }

    public enum Color: String, Sendable, Hashable, CaseIterable {
        case red = "RED", green = "GREEN", mint = "MINT", lightBlue = "LIGHT_BLUE", darkBlue = "DARK_BLUE"
        case purple = "PURPLE", aqua = "AQUA", pink = "PINK", lime = "LIME", brown = "BROWN", azure = "AZURE"
        case khaki = "KHAKI", sand = "SAND", marengo = "MARENGO", gray = "GRAY", graphite = "GRAPHITE"
    }

    public var type: ChatType?
    public var title: String?
    public var description: String?
    public var color: Color?
    /// The first message posted in the chat.
    public var message: String?
    public var users: [Int64]
    /// A base64-encoded image.
    public var avatar: String?
    /// With `entityID`, what the chat belongs to; `im.chat.get` finds it by this pair (which
    /// Bitrix24 does not keep unique: look it up before creating).
    public var entityType: String?
    public var entityID: String?

    public init(
        type: ChatType? = nil, title: String? = nil, description: String? = nil, color: Color? = nil,
        message: String? = nil, users: [Int64] = [], avatar: String? = nil,
        entityType: String? = nil, entityID: String? = nil
    ) {
        self.type = type
        self.title = title
        self.description = description
        self.color = color
        self.message = message
        self.users = users
        self.avatar = avatar
        self.entityType = entityType
        self.entityID = entityID
    }

    /// The request parameters, exactly the Bitrix24 field names; unset fields are left out.
    public var params: [String: JSONValue] {
        var p: [String: JSONValue] = [:]
        p["TYPE"] = type.map { .string($0.rawValue) }
        p["TITLE"] = title.map(JSONValue.string)
        p["DESCRIPTION"] = description.map(JSONValue.string)
        p["COLOR"] = color.map { .string($0.rawValue) }
        p["MESSAGE"] = message.map(JSONValue.string)
        if !users.isEmpty { p["USERS"] = .array(users.map(JSONValue.int)) }
        p["AVATAR"] = avatar.map(JSONValue.string)
        p["ENTITY_TYPE"] = entityType.map(JSONValue.string)
        p["ENTITY_ID"] = entityID.map(JSONValue.string)
        return p
    }
}
