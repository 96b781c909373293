import Foundation
import Postgres

/// Takes whole months out of the log without breaking its append-only rule: no row is ever
/// updated or deleted. A month leaves only as a whole partition, after its rows are written to
/// a file, flushed, read back and checksummed, and in the same transaction that appends a
/// `log.archived` entry (month, rows, seq range, SHA-256, file) and records the archive in
/// `outbox.log_archives`. Only the log's owner (the role that runs `migrate`) can do it.
public struct LogArchiver {
    /// One month: what would be archived (a dry run), or what was.
    public struct Month: Sendable, Codable, Hashable {
        public var month: LogMonth
        /// `outbox.log_YYYY_MM`.
        public var partition: String
        /// The file's name in the archive directory.
        public var file: String
        public var rows: Int
        public var firstSeq: Int64?
        public var lastSeq: Int64?
        /// The highest intent id with an entry in the month.
        public var maxIntentID: Int64?
        /// Of the file; nil in a dry run.
        public var sha256: String?
        /// The month's `log.archived` entry; nil in a dry run.
        public var logSeq: Int64?
    }

    /// Why nothing (more) was archived.
    public struct ArchiveError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Months before this one are archived; at most the current month.
    public var before: LogMonth
    public var directory: URL

    public init(before: LogMonth, directory: URL) {
        self.before = before
        self.directory = directory
    }

    /// The months that would be archived, after every check; writes nothing.
    public func plan(on db: Connection) throws -> [Month] {
        try checkDirectory()
        let owner: Bool = try db.query("""
            SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = 'outbox.log'::regclass
            """).first!.decode(0)
        guard owner else {
            throw ArchiveError(description: "only the owner of outbox.log (the role that runs b24outbox migrate) may archive the log")
        }
        let current = try LogMonth(db.query("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')").first!.decode(0, as: String.self))!
        guard before <= current else {
            throw ArchiveError(description: "--before \(before) is after the current month \(current): "
                + "the current month and later ones are never archived")
        }
        let stray: Int = try db.query(
            "SELECT count(*) FROM outbox.log_default WHERE recorded_at < $1::timestamptz", [before.start]
        ).first!.decode(0)
        guard stray == 0 else {
            throw ArchiveError(description: "\(stray) entries before \(before) are in the default partition: "
                + "run b24outbox migrate, which files them into their months, then archive")
        }
        let months = try db.query("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'outbox.log'::regclass AND c.relname ~ '^log_[0-9]{4}_[0-9]{2}$'
            """).compactMap { LogMonth(partition: try $0.decode(0)) }.sorted()
        let chosen = months.filter { $0 < before }
        guard !chosen.isEmpty else {
            throw ArchiveError(description: "nothing to archive before \(before): "
                + (months.first.map { "the oldest month in the log is \($0)" } ?? "the log has no monthly partitions"))
        }
        try refuseActiveIntents(on: db)
        return try chosen.map { month in
            let planned = try Self.contents(of: month, on: db)
            if ArchiveFile(directory: directory, name: planned.file).exists {
                throw ArchiveError(description: "\(directory.appending(path: planned.file).path) already exists: "
                    + "an archive is never overwritten; choose another directory")
            }
            return planned
        }
    }

    /// Archives each planned month, oldest first, in a transaction of its own; `progress` hears
    /// of each as it commits. A failure leaves that month (and later ones) untouched.
    @discardableResult
    public func archive(on db: Connection, progress: (Month) -> Void = { _ in }) throws -> [Month] {
        var archived: [Month] = []
        for planned in try plan(on: db) {
            let month = try archive(planned.month, on: db)
            archived.append(month)
            progress(month)
        }
        return archived
    }

    /// A month whose intents are still pending or claimed keeps its timeline in the database:
    /// archiving it would leave live intents that `log --intent` and `verify` can only see in part.
    private func refuseActiveIntents(on db: Connection) throws {
        let active = try db.query("""
            SELECT i.id FROM outbox.intents i
             WHERE i.status IN ('pending', 'claimed')
               AND EXISTS (SELECT 1 FROM outbox.log l WHERE l.intent_id = i.id AND l.recorded_at < $1::timestamptz)
             ORDER BY i.id LIMIT 6
            """, [before.start]).map { try $0.decode(0, as: Int64.self) }
        guard !active.isEmpty else { return }
        let ids = active.prefix(5).map(String.init).joined(separator: ", ") + (active.count > 5 ? ", …" : "")
        throw ArchiveError(description: "months before \(before) hold entries of intents still pending or claimed "
            + "(\(ids)): let them finish or cancel them, or archive fewer months")
    }

    /// What a month's partition holds.
    static func contents(of month: LogMonth, on db: Connection) throws -> Month {
        let row = try db.query("SELECT count(*), min(seq), max(seq), max(intent_id) FROM outbox.\(month.partition)").first!
        return Month(
            month: month, partition: "outbox.\(month.partition)", file: "\(month.partition).copy",
            rows: try row.decode(0), firstSeq: try row.decode(1), lastSeq: try row.decode(2), maxIntentID: try row.decode(3))
    }

    private func checkDirectory() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ArchiveError(description: "\(directory.path) is not a directory: create it first")
        }
        guard access(directory.path, W_OK | X_OK) == 0 else {
            throw ArchiveError(description: "\(directory.path) is not writable by this user")
        }
    }
}
