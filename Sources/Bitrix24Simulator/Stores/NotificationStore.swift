/// The visible notifications, indexed so TAG replacement costs the same with a million
/// stored as with ten (benchmarks send that many).
struct NotificationStore: Sendable {
    /// Replacement key: one recipient, one application namespace, one tag. Its hash is taken
    /// once: a growing index rehashes every key, and hashing two strings each time made that
    /// a tenth of the portal's work.
    private struct TagKey: Hashable, Sendable {
        let userID: Int64
        let app: String
        let tag: String
        let hash: Int

        init(userID: Int64, app: String, tag: String) {
            self.userID = userID
            self.app = app
            self.tag = tag
            var hasher = Hasher()
            hasher.combine(userID)
            hasher.combine(app)
            hasher.combine(tag)
            hash = hasher.finalize()
        }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        static func == (a: TagKey, b: TagKey) -> Bool {
            a.hash == b.hash && a.userID == b.userID && a.tag == b.tag && a.app == b.app
        }
    }

    /// Every notification stored, at its id's offset from `firstID`; a deleted one leaves nil.
    /// Ids only grow (the portal hands them out in order), so adding appends, and growing moves
    /// the notifications as they are instead of rehashing them into a dictionary. The oldest
    /// are the ones replaced and deleted first: once most slots lie empty before the first
    /// one still held, they are dropped.
    private var slots: [Simulator.Notification?] = []
    private var firstID: Int64 = 0
    /// Slots before this one are all empty.
    private var head = 0
    private var byTag: [TagKey: Int64] = [:]

    private(set) var count = 0

    /// Stores `notification`, whose id must be above every id stored before; first deletes the
    /// one the same recipient has with the same tag in the same namespace. Returns how many were
    /// replaced (0 or 1).
    mutating func add(_ notification: Simulator.Notification) -> Int {
        var replaced = 0
        if let tag = notification.tag {
            let key = TagKey(userID: notification.userID, app: notification.app, tag: tag)
            // One lookup of the key both finds the one replaced and points it at the new one.
            if let old = byTag.updateValue(notification.id, forKey: key), take(id: old) != nil { replaced = 1 }
        }
        // Only now: taking the replaced one may have dropped the empty slots before it.
        if slots.isEmpty {
            firstID = notification.id
            head = 0
        }
        let offset = notification.id - firstID
        precondition(offset >= Int64(slots.count), "notification ids must grow: \(notification.id) after \(firstID + Int64(slots.count) - 1)")
        slots.append(contentsOf: repeatElement(nil, count: Int(offset) - slots.count))
        slots.append(notification)
        count += 1
        return replaced
    }

    mutating func remove(id: Int64) -> Bool {
        guard let removed = take(id: id) else { return false }
        unindex(removed)
        return true
    }

    /// Removes every notification matching `predicate` (a scan: deletes by tag are rare).
    mutating func removeAll(where predicate: (Simulator.Notification) -> Bool) -> Int {
        let doomed = all.filter(predicate)
        for n in doomed {
            _ = take(id: n.id)
            unindex(n)
        }
        return doomed.count
    }

    /// All of them, oldest first.
    var all: [Simulator.Notification] { slots.compactMap { $0 } }

    /// Empties the slot of `id`, returning what it held.
    private mutating func take(id: Int64) -> Simulator.Notification? {
        let offset = id - firstID
        guard offset >= 0, offset < Int64(slots.count), let held = slots[Int(offset)] else { return nil }
        slots[Int(offset)] = nil
        count -= 1
        while head < slots.count, slots[head] == nil { head += 1 }
        if head >= 1_024, head >= slots.count / 2 {
            slots.removeFirst(head)
            firstID += Int64(head)
            head = 0
        }
        return held
    }

    private mutating func unindex(_ n: Simulator.Notification) {
        guard let tag = n.tag else { return }
        let key = TagKey(userID: n.userID, app: n.app, tag: tag)
        if byTag[key] == n.id { byTag[key] = nil }
    }
}
