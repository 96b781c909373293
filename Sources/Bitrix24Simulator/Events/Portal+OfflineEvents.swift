import Bitrix24Wire
import Foundation

/// A list method's navigation: the envelope's `total`, and `next` when more pages follow.
struct ListPage: Sendable, Equatable {
    var total: Int64
    var next: Int64?
}

/// `event.offline.get`, `.clear` and `.list`, as the rest module runs them. OAuth applications
/// only; the application is always an administrator here, so no access check follows.
extension Portal {
    static let offlineGetFields: Set<String> = ["ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID"]
    static let offlineListFields = offlineGetFields.union(["PROCESS_ID", "ERROR"])
    static let offlineListPageSize = 50

    /// `event.offline.get`. Without `process_id` it reserves up to `limit` unreserved records for a
    /// new process and returns them; with one, it returns what that process still holds. With
    /// `clear=1` (the default) every record of the process is deleted once any was returned.
    func offlineGet(_ p: [String: JSONValue], caller: Caller) throws(PortalError) -> JSONValue {
        guard caller.clientID != nil else { throw .wrongAuthType }
        let clear = Self.given(p["CLEAR"]).map { PHPValue.int($0) != 0 } ?? true
        var processID = try Self.given(p["PROCESS_ID"]).map { value throws(PortalError) in
            guard let text = value.stringValue else { throw .argument("Value must be a string") }
            return text.trimmingCharacters(in: .whitespaces)
        }
        let limit = Self.given(p["LIMIT"]).map { PHPValue.int($0) } ?? Int64(Self.offlineListPageSize)
        guard limit > 0 else { throw .argument("Value must be positive integer") }
        let errors = Self.given(p["ERROR"]).map { PHPValue.int($0) == 1 } ?? false
        let filter = try OfflineEventFilter(Self.given(p["FILTER"]), fields: Self.offlineGetFields)
        let order = try OfflineEventOrder(Self.given(p["ORDER"]), default: "TIMESTAMP_X", fields: Self.offlineGetFields)

        let returnProcessID = !clear || processID != nil
        if processID == nil {
            let fresh = Self.newProcessID()
            offlineEvents.reserve(fresh, order: order, limit: Int(clamping: limit)) { $0.error == errors && filter.matches($0) }
            processID = fresh
        }
        let process = processID ?? ""
        let events = offlineEvents.select(order: order, limit: Int(clamping: limit)) {
            $0.processID == process && $0.error == errors && filter.matches($0)
        }
        if clear, !events.isEmpty { offlineEvents.clear(process) }
        return [
            "process_id": returnProcessID ? .string(process) : .null,
            "events": .array(events.map { offlineJSON($0, listing: false) }),
        ]
    }

    /// `event.offline.clear`: deletes the records of `process_id`; with `message_id` (which wins)
    /// or `id`, only those. An empty list clears the whole process, as on the portal.
    func offlineClear(_ p: [String: JSONValue], caller: Caller) throws(PortalError) -> JSONValue {
        guard caller.clientID != nil else { throw .wrongAuthType }
        guard let raw = Self.given(p["PROCESS_ID"]) else { throw .argument("Argument 'PROCESS_ID' is null or empty") }
        guard let process = raw.stringValue?.trimmingCharacters(in: .whitespaces) else {
            throw .argument("Value must be a string")
        }
        if let messageIDs = Self.given(p["MESSAGE_ID"]) {
            guard let items = Self.phpArray(messageIDs) else { throw .argument("Value must be array of MESSAGE_ID values") }
            let wanted = try Set(items.map { item throws(PortalError) in
                guard let text = item.stringValue?.trimmingCharacters(in: .whitespaces), text.count == 32 else {
                    throw .argument("Value must be array of MESSAGE_ID values")
                }
                return text
            })
            offlineEvents.clear(process) { wanted.isEmpty || wanted.contains($0.messageID) }
        } else if let ids = Self.given(p["ID"]) {
            guard let items = Self.phpArray(ids) else { throw .argument("Value must be array of integers") }
            let wanted = try Set(items.map { item throws(PortalError) in
                let id = PHPValue.int(item)
                guard id > 0 else { throw .argument("Value must be array of integers") }
                return id
            })
            offlineEvents.clear(process) { wanted.isEmpty || wanted.contains($0.id) }
        } else {
            offlineEvents.clear(process)
        }
        return .bool(true)
    }

    /// `event.offline.list`: read-only, 50 records a page from `start`, with `total` and `next`.
    func offlineList(_ p: [String: JSONValue], caller: Caller, page: inout ListPage?) throws(PortalError) -> JSONValue {
        guard caller.clientID != nil else { throw .wrongAuthType }
        let filter = try OfflineEventFilter(Self.given(p["FILTER"]), fields: Self.offlineListFields)
        let order = try OfflineEventOrder(Self.given(p["ORDER"]), default: "ID", fields: Self.offlineListFields)
        let start = max(0, Int(clamping: PHPValue.int(p["START"])))
        let all = offlineEvents.select(order: order, where: filter.matches)
        let shown = all.dropFirst(start).prefix(Self.offlineListPageSize)
        let total = Int64(all.count)
        let next = start + shown.count < all.count ? Int64(start + shown.count) : nil
        page = ListPage(total: total, next: next)
        return .array(shown.map { offlineJSON($0, listing: true) })
    }

    /// Queues an event for the application, as the portal does when a bound offline event fires.
    func queueOfflineEvent(name: String, data: JSONValue, userID: Int64?) -> Int64 {
        let additional: JSONValue = userID.map { ["user_id": .string(String($0))] } ?? []
        return offlineEvents.queue(name: name.uppercased(), data: data, additional: additional, now: Date())
    }

    /// A record as the methods print it: every column a string, except the unserialized data.
    private func offlineJSON(_ record: Simulator.OfflineRecord, listing: Bool) -> JSONValue {
        var members: [String: JSONValue] = [
            "ID": .string(String(record.id)),
            "TIMESTAMP_X": .string(TimeBlock.format(record.timestamp, in: configuration.timeZone)),
            "EVENT_NAME": .string(record.eventName),
            "EVENT_DATA": record.data,
            "EVENT_ADDITIONAL": record.additional,
            "MESSAGE_ID": .string(record.messageID),
        ]
        if listing {
            members["PROCESS_ID"] = .string(record.processID)
            members["ERROR"] = .string(record.error ? "1" : "0")
        }
        return .object(members)
    }

    /// PHP's `isset`: present and not null.
    private static func given(_ value: JSONValue?) -> JSONValue? {
        guard let value, value != .null else { return nil }
        return value
    }

    /// The items of a PHP array (a list, or an object with other keys, as a form body makes it).
    private static func phpArray(_ value: JSONValue) -> [JSONValue]? {
        switch value {
        case .array(let items): return items
        case .object(let members): return members.sorted { $0.key < $1.key }.map(\.value)
        default: return nil
        }
    }

    /// `Random::getString(32)`: lower-case letters and digits.
    static func newProcessID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<32).map { _ in alphabet.randomElement()! })
    }
}
