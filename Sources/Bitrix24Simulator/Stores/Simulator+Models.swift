import Bitrix24Wire

extension Simulator {
    /// A notification as the portal stores it.
    public struct Notification: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable { case personal, system }

        public var id: Int64
        public var kind: Kind
        /// Recipient.
        public var userID: Int64
        /// Sender: the calling user for personal notifications, 0 for system ones.
        public var authorID: Int64
        public var message: String
        public var messageOut: String?
        /// The TAG as the caller sent it (stored namespaced by `app`, as portals do).
        public var tag: String?
        public var subTag: String?
        /// The application namespace of the tags: the OAuth client id, the webhook's
        /// `CLIENT_ID` parameter, or "" for a webhook call without one.
        public var app: String
        public var attach: JSONValue?

        public var json: JSONValue {
            var members: [String: JSONValue] = [
                "id": .int(id), "kind": .string(kind.rawValue), "userId": .int(userID),
                "authorId": .int(authorID), "message": .string(message), "app": .string(app),
            ]
            if let messageOut { members["messageOut"] = .string(messageOut) }
            if let tag { members["tag"] = .string(tag) }
            if let subTag { members["subTag"] = .string(subTag) }
            if let attach { members["attach"] = attach }
            return .object(members)
        }
    }

    /// A chat as `im.chat.add` created it.
    public struct Chat: Sendable, Hashable {
        public var id: Int64
        /// `OPEN` or `CHAT`.
        public var type: String
        public var title: String
        public var description: String
        public var color: String?
        public var message: String?
        public var entityType: String
        public var entityID: String
        /// The creator (the calling user), who owns the chat.
        public var ownerID: Int64
        /// Members: the owner first, then the existing users of `USERS`.
        public var users: [Int64]
        public var hasAvatar: Bool

        public var json: JSONValue {
            var members: [String: JSONValue] = [
                "id": .int(id), "type": .string(type), "title": .string(title),
                "description": .string(description), "entityType": .string(entityType),
                "entityId": .string(entityID), "ownerId": .int(ownerID),
                "users": .array(users.map { .int($0) }), "hasAvatar": .bool(hasAvatar),
            ]
            if let color { members["color"] = .string(color) }
            if let message { members["message"] = .string(message) }
            return .object(members)
        }
    }
}
