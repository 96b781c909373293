import Bitrix24Wire
import Foundation

extension Simulator {
    /// One record of the portal's offline event queue, as `event.offline.list` shows it.
    public struct OfflineRecord: Sendable, Hashable {
        public var id: Int64
        /// When it was queued, or queued again with the same content (`TIMESTAMP_X`).
        public var timestamp: Date
        public var eventName: String
        public var data: JSONValue
        /// `EVENT_ADDITIONAL`: `{"user_id": "…"}`, or `[]` when no user raised the event.
        public var additional: JSONValue
        /// md5 of the event name and data: the same content gives the same id.
        public var messageID: String
        /// The process that reserved it with `event.offline.get`; "" while unreserved.
        public var processID: String
        public var error: Bool

        public var isReserved: Bool { !processID.isEmpty }
    }
}

/// The offline event queue of the one installed application (`b_rest_event_offline`), in ID
/// order. Selection takes a predicate and an order, so the REST methods keep their own rules.
struct OfflineEventQueue: Sendable {
    /// Distinct from chat, notification and user ids, so a mix-up gets caught.
    static let firstID: Int64 = 9_000_001

    private(set) var records: [Simulator.OfflineRecord] = []
    private var nextID = OfflineEventQueue.firstID

    var reservedCount: Int { records.count { $0.isReserved } }

    /// Queues an event as the portal's merge does: when an unreserved record with the same
    /// MESSAGE_ID exists, it only gets the new time (and the data again); nothing is added.
    /// Returns the record's id.
    mutating func queue(name: String, data: JSONValue, additional: JSONValue, now: Date) -> Int64 {
        let messageID = Self.messageID(name: name, data: data)
        if let i = records.firstIndex(where: { $0.messageID == messageID && !$0.isReserved }) {
            records[i].timestamp = now
            records[i].data = data
            records[i].additional = additional
            return records[i].id
        }
        let record = Simulator.OfflineRecord(
            id: nextID, timestamp: now, eventName: name, data: data, additional: additional,
            messageID: messageID, processID: "", error: false)
        nextID += 1
        records.append(record)
        return record.id
    }

    /// `md5(EVENT_NAME|json(EVENT_DATA))`, as the rest module computes it.
    static func messageID(name: String, data: JSONValue) -> String {
        MD5.hex(name + "|" + data.jsonString)
    }

    /// The records `include` accepts, in `order`, from `offset`, at most `limit`.
    func select(
        order: OfflineEventOrder, offset: Int = 0, limit: Int? = nil,
        where include: (Simulator.OfflineRecord) -> Bool
    ) -> [Simulator.OfflineRecord] {
        let sorted = order.sorted(records.filter(include)).dropFirst(max(0, offset))
        return Array(limit.map { sorted.prefix($0) } ?? sorted)
    }

    /// Gives up to `limit` unreserved records that `include` accepts, first in `order`, to
    /// `processID`. Returns how many it reserved.
    @discardableResult
    mutating func reserve(
        _ processID: String, order: OfflineEventOrder, limit: Int,
        where include: (Simulator.OfflineRecord) -> Bool
    ) -> Int {
        let chosen = Set(select(order: order, limit: limit) { !$0.isReserved && include($0) }.map(\.id))
        for i in records.indices where chosen.contains(records[i].id) { records[i].processID = processID }
        return chosen.count
    }

    /// Deletes the records of `processID` that `include` accepts; returns how many.
    @discardableResult
    mutating func clear(
        _ processID: String, where include: (Simulator.OfflineRecord) -> Bool = { _ in true }
    ) -> Int {
        let before = records.count
        records.removeAll { $0.processID == processID && include($0) }
        return before - records.count
    }
}
