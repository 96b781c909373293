/// Chats in creation order, with the first chat of each entity pair at hand for `im.chat.get`.
/// Pairs are not unique: later chats with the same pair are kept, and visible in `all`. A
/// portal's database compares the pair without regard to case, and so does the lookup here.
struct ChatStore: Sendable {
    private struct EntityKey: Hashable, Sendable {
        var type: String
        var id: String

        init(type: String, id: String) {
            self.type = type.lowercased()
            self.id = id.lowercased()
        }
    }

    private(set) var all: [Simulator.Chat] = []
    private var firstByEntity: [EntityKey: Int] = [:]

    mutating func add(_ chat: Simulator.Chat) {
        let key = EntityKey(type: chat.entityType, id: chat.entityID)
        if firstByEntity[key] == nil { firstByEntity[key] = all.count }
        all.append(chat)
    }

    func first(entityType: String, entityID: String) -> Simulator.Chat? {
        firstByEntity[EntityKey(type: entityType, id: entityID)].map { all[$0] }
    }
}
