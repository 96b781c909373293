/// What an intent asks Bitrix24 to do.
public enum IntentKind: String, Sendable, Codable, CaseIterable {
    case chatCreate = "chat.create"
    case notifyPersonal = "notify.personal"
    case notifySystem = "notify.system"

    /// The REST method that carries it out.
    public var method: String {
        switch self {
        case .chatCreate: "im.chat.add"
        case .notifyPersonal: "im.notify.personal.add"
        case .notifySystem: "im.notify.system.add"
        }
    }
}

/// Where an intent stands. Only `pending` intents are claimed.
public enum IntentStatus: String, Sendable, Codable, CaseIterable {
    case pending, claimed, delivered, dead, cancelled
}
