/// The visible notifications, indexed so TAG replacement costs the same with a million
/// stored as with ten (benchmarks send that many).
struct NotificationStore: Sendable {
    /// Replacement key: one recipient, one application namespace, one tag.
    private struct TagKey: Hashable, Sendable {
        var userID: Int64
        var app: String
        var tag: String
    }

    private var byID: [Int64: Simulator.Notification] = [:]
    private var byTag: [TagKey: Int64] = [:]

    var count: Int { byID.count }

    /// Stores `notification`; first deletes the one the same recipient has with the same tag
    /// in the same namespace. Returns how many were replaced (0 or 1).
    mutating func add(_ notification: Simulator.Notification) -> Int {
        var replaced = 0
        if let tag = notification.tag {
            let key = TagKey(userID: notification.userID, app: notification.app, tag: tag)
            // One lookup of the key both finds the one replaced and points it at the new one.
            if let old = byTag.updateValue(notification.id, forKey: key), byID.removeValue(forKey: old) != nil { replaced = 1 }
        }
        byID[notification.id] = notification
        return replaced
    }

    mutating func remove(id: Int64) -> Bool {
        guard let removed = byID.removeValue(forKey: id) else { return false }
        unindex(removed)
        return true
    }

    /// Removes every notification matching `predicate` (a scan: deletes by tag are rare).
    mutating func removeAll(where predicate: (Simulator.Notification) -> Bool) -> Int {
        let doomed = byID.values.filter(predicate)
        for n in doomed {
            byID[n.id] = nil
            unindex(n)
        }
        return doomed.count
    }

    /// All of them, oldest first.
    var all: [Simulator.Notification] { byID.values.sorted { $0.id < $1.id } }

    private mutating func unindex(_ n: Simulator.Notification) {
        guard let tag = n.tag else { return }
        let key = TagKey(userID: n.userID, app: n.app, tag: tag)
        if byTag[key] == n.id { byTag[key] = nil }
    }
}
