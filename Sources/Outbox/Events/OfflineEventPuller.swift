import Bitrix24
import Foundation
import Postgres

/// Reads a portal's offline event queue without ever losing an event: reserve a page
/// (`event.offline.get` with `clear=0`), store it, and only then `event.offline.clear` exactly
/// the stored events.
///
/// A run that dies after reserving leaves its page reserved on the portal. Every run therefore
/// first looks for reserved events (`event.offline.list` with `>PROCESS_ID` "": Bitrix24 allows no negation in filters), stores them
/// and clears them. Storing is idempotent (an offline event's queue id is its fingerprint), so an
/// event stored before the crash is not stored again, and two pullers at once stay correct.
public struct OfflineEventPuller: Sendable {
    public struct Report: Sendable, Codable, Hashable {
        /// Events reserved by an earlier run that did not clear them.
        public var recovered = 0
        /// Events reserved by this run.
        public var reserved = 0
        /// Events written to the log.
        public var stored = 0
        /// Events that were in the log already (stored by a run that died before clearing).
        public var duplicates = 0
        /// Events cleared from the portal's queue.
        public var cleared = 0
        /// Chat intents that got a `chat.dialog_finished` entry.
        public var linkedIntents = 0

        public init() {}
    }

    let client: Bitrix24Client
    let portalID: Int64
    let database: DatabaseExecutor
    /// Events per `event.offline.get`, 1 to 1,000. Default 50.
    public var pageSize = 50

    public init(client: Bitrix24Client, portalID: Int64, database: DatabaseExecutor) {
        self.client = client
        self.portalID = portalID
        self.database = database
    }

    /// Empties the queue as it is now: reserved leftovers first, then new pages until a short one.
    public func pull() async throws -> Report {
        var report = Report()
        try await recoverReserved(&report)
        while true {
            let page = try await client.reserveOfflineEvents(limit: pageSize)
            guard !page.events.isEmpty else { break }
            guard let processID = page.processID, !processID.isEmpty else {
                throw Bitrix24Error(
                    code: "ERROR_UNEXPECTED_ANSWER", errorDescription: "event.offline.get returned events without a process_id",
                    failureClass: .ambiguous)
            }
            report.reserved += page.events.count
            try await storeThenClear(page.events, processID: processID, &report)
            if page.events.count < pageSize { break }
        }
        return report
    }

    /// Events some run reserved and never cleared: store them, then clear them.
    private func recoverReserved(_ report: inout Report) async throws {
        // Each round clears what it lists, so the next round starts from the top again.
        for _ in 0..<10_000 {
            let (events, _) = try await client.listOfflineEvents(filter: [">PROCESS_ID": ""])
            let reserved = events.filter { !($0.processID ?? "").isEmpty }
            guard !reserved.isEmpty else { return }
            report.recovered += reserved.count
            for (processID, group) in Dictionary(grouping: reserved, by: { $0.processID! }) {
                try await storeThenClear(group, processID: processID, &report)
            }
        }
    }

    private func storeThenClear(_ events: [OfflineEvent], processID: String, _ report: inout Report) async throws {
        let portalID = portalID
        // In queue-id order, as every puller writes them: two pullers at once never deadlock.
        let events = events.sorted { $0.id < $1.id }
        let receipts = try await database.run(retryOnConnectionLoss: true) { db in
            try db.transaction { db in
                try events.map { try EventStore.record(InboundEvent(offline: $0), portalID: portalID, on: db) }
            }
        }
        report.stored += receipts.filter { !$0.duplicate }.count
        report.duplicates += receipts.filter(\.duplicate).count
        report.linkedIntents += receipts.reduce(0) { $0 + $1.linkedIntents.count }
        // Only now, with every event of the page committed, may the portal forget them.
        try await client.clearOfflineEvents(processID: processID, ids: events.map(\.id))
        report.cleared += events.count
    }
}
