import Postgres

/// Proves the intents table is the projection of the log: folds every intent's log entries,
/// in order, into the state they explain and compares it with the row.
public struct Verifier: Sendable {
    public struct Mismatch: Sendable, Hashable, Codable, CustomStringConvertible {
        public var intentID: Int64
        public var problem: String
        public var description: String { "intent \(intentID): \(problem)" }
    }

    public struct Report: Sendable, Codable {
        public var intents: Int
        public var entries: Int
        public var mismatches: [Mismatch]
        /// Intents not folded because their history begins in an archived month (see
        /// `archivedIntentsThrough`): what the database still holds of it cannot explain the row.
        public var skipped = 0
        /// The highest intent id with entries in an archived month, if any month was archived.
        public var archivedIntentsThrough: Int64?
        public var isConsistent: Bool { mismatches.isEmpty }
    }

    /// Rows fetched per round trip from the two cursors.
    public var pageSize = 10_000

    public init() {}

    /// Reads one consistent snapshot (REPEATABLE READ), so it may run while workers deliver.
    public func verify(on db: Connection) throws -> Report {
        try db.transaction { db in
            try db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try db.execute("""
                DECLARE log_cursor NO SCROLL CURSOR FOR
                SELECT intent_id, type, (data->>'attempt')::int, data->>'worker', (data->>'result_id')::bigint
                  FROM outbox.log WHERE intent_id IS NOT NULL AND type NOT IN (\(LogType.annotations.map { "'\($0)'" }.joined(separator: ", ")))
                 ORDER BY intent_id, seq
                """)
            try db.execute("""
                DECLARE intent_cursor NO SCROLL CURSOR FOR
                SELECT i.id, i.status, i.attempts, i.result_id, i.lease_owner, k.intent_id
                  FROM outbox.intents i
                  LEFT JOIN outbox.intent_keys k
                         ON (k.portal_id, k.kind, k.idempotency_key) = (i.portal_id, i.kind, i.idempotency_key)
                 ORDER BY i.id
                """)
            var log = CursorReader(name: "log_cursor", pageSize: pageSize, db: db)
            var rows = CursorReader(name: "intent_cursor", pageSize: pageSize, db: db)
            var report = Report(intents: 0, entries: 0, mismatches: [])
            report.archivedIntentsThrough = try db.query("SELECT max(max_intent_id) FROM outbox.log_archives").first!.decode(0)
            let archivedThrough = report.archivedIntentsThrough ?? 0
            var nextEntry = try log.next()
            while let row = try rows.next() {
                report.intents += 1
                let id: Int64 = try row.decode(0)
                // Its key, which makes a repeated enqueue return this intent, must name it.
                switch try row.decode(5, as: Int64?.self) {
                case id: break
                case nil: report.mismatches.append(.init(intentID: id, problem: "its idempotency key is not in intent_keys"))
                case let other?: report.mismatches.append(.init(intentID: id, problem: "its idempotency key belongs to intent \(other)"))
                }
                // Entries of intents with no row (should not exist) are reported, then skipped.
                while let entry = nextEntry, try entry.decode(0, as: Int64.self) < id {
                    report.mismatches.append(.init(intentID: try entry.decode(0), problem: "log entries for an intent that has no row"))
                    try skip(intent: try entry.decode(0), from: &log, entry: &nextEntry, count: &report.entries)
                }
                // Up to the highest archived intent, a history that does not start with its
                // enqueue here started in an archive. Every later intent is whole.
                if id <= archivedThrough, try !Self.startsHere(intent: id, entry: nextEntry) {
                    report.skipped += 1
                    var ignored = 0
                    try skip(intent: id, from: &log, entry: &nextEntry, count: &ignored)
                    continue
                }
                var fold = IntentFold()
                while let entry = nextEntry, try entry.decode(0, as: Int64.self) == id {
                    report.entries += 1
                    fold.apply(type: try entry.decode(1), attempt: try entry.decode(2), worker: try entry.decode(3), resultID: try entry.decode(4))
                    nextEntry = try log.next()
                }
                for problem in fold.differences(
                    status: try row.decode(1), attempts: try row.decode(2), resultID: try row.decode(3), leaseOwner: try row.decode(4))
                {
                    report.mismatches.append(.init(intentID: id, problem: problem))
                }
            }
            while let entry = nextEntry {
                report.mismatches.append(.init(intentID: try entry.decode(0), problem: "log entries for an intent that has no row"))
                try skip(intent: try entry.decode(0), from: &log, entry: &nextEntry, count: &report.entries)
            }
            // Keys that name no intent, or an intent with another key: enqueuing one would answer
            // with the wrong intent.
            for row in try db.query("""
                SELECT k.intent_id, i.id IS NOT NULL FROM outbox.intent_keys k LEFT JOIN outbox.intents i ON i.id = k.intent_id
                 WHERE i.id IS NULL OR (i.portal_id, i.kind, i.idempotency_key) <> (k.portal_id, k.kind, k.idempotency_key)
                 ORDER BY k.intent_id
                """) {
                let problem = try row.decode(1, as: Bool.self)
                    ? "an idempotency key of another portal, kind or text names it" : "an idempotency key names it, but it has no row"
                report.mismatches.append(.init(intentID: try row.decode(0), problem: problem))
            }
            // A chat not yet at rest must hold its entity pair, or a second intent could create
            // the same chat beside it.
            for row in try db.query("""
                SELECT i.id, c.intent_id FROM outbox.intents i
                  LEFT JOIN outbox.chat_entities c
                         ON c.portal_id = i.portal_id AND c.entity_type = lower(i.payload->>'ENTITY_TYPE')
                        AND c.entity_id = lower(i.payload->>'ENTITY_ID')
                 WHERE i.kind = 'chat.create' AND i.status IN ('pending', 'claimed', 'dead')
                   AND c.intent_id IS DISTINCT FROM i.id
                 ORDER BY i.id
                """) {
                let holder = try row.decode(1, as: Int64?.self)
                report.mismatches.append(.init(intentID: try row.decode(0), problem: holder.map {
                    "its entity pair is held by intent \($0)" } ?? "its entity pair is not in chat_entities"))
            }
            return report
        }
    }

    private static func startsHere(intent id: Int64, entry: Row?) throws -> Bool {
        guard let entry, try entry.decode(0, as: Int64.self) == id else { return false }
        return try entry.decode(1, as: String.self) == LogType.intentEnqueued
    }

    private func skip(intent: Int64, from log: inout CursorReader, entry: inout Row?, count: inout Int) throws {
        while let current = entry, try current.decode(0, as: Int64.self) == intent {
            count += 1
            entry = try log.next()
        }
    }
}

/// The state an intent's log entries explain, and any entry that did not fit.
struct IntentFold {
    var status: IntentStatus?
    var attempts = 0
    var resultID: Int64?
    var worker: String?
    var problems: [String] = []

    mutating func apply(type: String, attempt: Int?, worker: String?, resultID: Int64?) {
        func require(_ allowed: Set<IntentStatus?>) {
            if !allowed.contains(status) {
                problems.append("\(type) follows status \(status?.rawValue ?? "nothing")")
            }
        }
        switch type {
        case LogType.intentEnqueued:
            require([nil])
            status = .pending
        case LogType.intentClaimed:
            require([.pending])
            if let attempt, attempt != attempts + 1 {
                problems.append("claimed as attempt \(attempt) after \(attempts) attempts")
            }
            attempts = attempt ?? attempts + 1
            status = .claimed
            self.worker = worker
        case LogType.deliverySucceeded:
            require([.claimed])
            status = .delivered
            self.resultID = resultID ?? self.resultID
        case LogType.deliveryFailed, LogType.intentLeaseExpired:
            require([.claimed])
            status = .pending
        case LogType.intentReleased:
            require([.claimed])
            attempts -= 1
            status = .pending
        case LogType.intentDead:
            require([.claimed])
            status = .dead
        case LogType.intentReplayed:
            require([.dead, .cancelled, .delivered])
            attempts = 0
            status = .pending
        case LogType.intentCancelled:
            require([.pending, .dead])
            status = .cancelled
        case LogType.intentSuperseded:
            require([.pending])
            status = .cancelled
        default:
            problems.append("unknown entry type \(type)")
        }
    }

    func differences(status rowStatus: String, attempts rowAttempts: Int, resultID rowResult: Int64?, leaseOwner: String?) -> [String] {
        var found = problems
        guard let status else { return found + ["the row has no intent.enqueued entry"] }
        if status.rawValue != rowStatus { found.append("status is \(rowStatus), the log says \(status.rawValue)") }
        if attempts != rowAttempts { found.append("attempts is \(rowAttempts), the log says \(attempts)") }
        if status == .delivered, resultID != rowResult {
            found.append("result_id is \(rowResult.map(String.init) ?? "NULL"), the log says \(resultID.map(String.init) ?? "NULL")")
        }
        if status == .claimed, worker != leaseOwner {
            found.append("lease owner is \(leaseOwner ?? "NULL"), the log says \(worker ?? "NULL")")
        }
        return found
    }
}

/// Pages through a server-side cursor.
struct CursorReader {
    let name: String
    let pageSize: Int
    let db: Connection
    private var page: QueryResult?
    private var index = 0
    private var exhausted = false

    init(name: String, pageSize: Int, db: Connection) {
        self.name = name
        self.pageSize = pageSize
        self.db = db
    }

    mutating func next() throws -> Row? {
        if let page, index < page.count {
            defer { index += 1 }
            return page[index]
        }
        guard !exhausted else { return nil }
        let fetched = try db.query("FETCH \(pageSize) FROM \(name)")
        exhausted = fetched.count < pageSize
        page = fetched
        index = 0
        guard fetched.count > 0 else { return nil }
        index = 1
        return fetched[0]
    }
}
