import Bitrix24Wire
import Foundation

/// Offline events: the lossless pull of events bound with `event_type=offline`. OAuth
/// applications only (a webhook gets `WRONG_AUTH_TYPE`).
///
/// Reserve a batch (`reserveOfflineEvents`), store it durably, then clear exactly those records
/// (`clearOfflineEvents`). A process that dies in between finds its records again with
/// `offlineEvents(reservedBy:)`; if the process id itself was lost, `listOfflineEvents` with
/// `[">PROCESS_ID": ""]` shows reserved records and their process ids. Reserved records stay
/// invisible to new reservations, and the portal deletes them about a month after their last
/// update, so none should be left behind.
extension Bitrix24Client {
    /// `event.offline.get` with `clear=0`: reserves up to `limit` unreserved records for a new
    /// process and returns them with its id. They stay queued until `clearOfflineEvents`.
    ///
    /// On an ambiguous failure the records may be reserved under a process id never seen:
    /// look for them with `listOfflineEvents`.
    public func reserveOfflineEvents(limit: Int = 50) async throws(Bitrix24Error) -> OfflineEvents {
        let response = try await call("event.offline.get", params: ["clear": 0, "limit": .int(Int64(limit))])
        return try OfflineEvents(json: response.result, method: response.method)
    }

    /// `event.offline.get` with `clear=0` and `process_id`: up to `limit` records `processID`
    /// reserved and has not cleared yet. Reserves nothing new.
    public func offlineEvents(reservedBy processID: String, limit: Int = 50) async throws(Bitrix24Error) -> OfflineEvents {
        try Self.requireProcessID(processID)
        let response = try await call(
            "event.offline.get", params: ["clear": 0, "process_id": .string(processID), "limit": .int(Int64(limit))])
        return try OfflineEvents(json: response.result, method: response.method)
    }

    /// `event.offline.list`: read-only, 50 records a page from `start`, with their process ids
    /// and error flags. `filter` keys carry their operation as a prefix (`=`, `>`, `<`, `>=`,
    /// `<=`, `@`, `%`; none means equal) over ID, TIMESTAMP_X, EVENT_NAME, MESSAGE_ID,
    /// PROCESS_ID and ERROR. The portal refuses negation (`!`). `next` is the next page's start.
    public func listOfflineEvents(
        filter: [String: JSONValue] = [:], start: Int = 0
    ) async throws(Bitrix24Error) -> (events: [OfflineEvent], next: Int?) {
        var params: [String: JSONValue] = ["start": .int(Int64(start))]
        if !filter.isEmpty { params["filter"] = .object(filter) }
        let response = try await call("event.offline.list", params: params)
        guard let items = response.result.arrayValue else {
            throw Bitrix24Error(
                code: .unexpectedResult, errorDescription: "expected a list, got \(response.result.kindDescription)",
                httpStatus: 200, method: response.method)
        }
        var events: [OfflineEvent] = []
        for item in items { events.append(try OfflineEvent(json: item, method: response.method)) }
        return (events, response.next.map { Int($0) })
    }

    /// `event.offline.clear` for the records `ids` of `processID`. An empty list is refused here:
    /// the portal would clear every record of the process, stored or not.
    public func clearOfflineEvents(processID: String, ids: [Int64]) async throws(Bitrix24Error) {
        try Self.requireProcessID(processID)
        guard !ids.isEmpty else {
            throw Bitrix24Error(
                code: .invalidArgument,
                errorDescription: "no record ids: event.offline.clear would clear the whole process")
        }
        guard ids.allSatisfy({ $0 > 0 }) else {
            throw Bitrix24Error(code: .invalidArgument, errorDescription: "offline event ids are positive")
        }
        let response = try await call(
            "event.offline.clear", params: ["process_id": .string(processID), "id": .array(ids.map { .int($0) })])
        guard response.result == .bool(true) || response.result.intValue == 1 else {
            throw Bitrix24Error(
                code: .unexpectedResult, errorDescription: "expected true, got \(response.result.kindDescription)",
                httpStatus: 200, method: response.method)
        }
    }

    /// An empty process id reads, and clears, the records nobody reserved.
    private static func requireProcessID(_ processID: String) throws(Bitrix24Error) {
        guard !processID.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw Bitrix24Error(
                code: .invalidArgument, errorDescription: "an empty process id stands for the unreserved records")
        }
    }
}
