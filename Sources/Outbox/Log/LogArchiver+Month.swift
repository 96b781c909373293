import Foundation
import Postgres

extension LogArchiver {
    /// The columns of an archive file, in order (COPY text format, one row per line).
    public static let columns = ["seq", "recorded_at", "stream", "type", "intent_id", "portal_id", "data"]

    /// One month in one transaction: the partition is locked against appends, written out and
    /// proven on disk, then the `log.archived` entry, the `log_archives` row, DETACH and DROP
    /// commit together. If anything fails before the commit, the files are removed again.
    func archive(_ month: LogMonth, on db: Connection) throws -> Month {
        let partition = "outbox.\(month.partition)"
        try db.execute("BEGIN")
        var file: ArchiveFile?
        var committing = false
        do {
            // Timestamps in the file read the same wherever it is loaded back.
            try db.execute("SET LOCAL TimeZone = 'UTC'")
            try db.execute("SET LOCAL lock_timeout = '5s'")
            // No appends meanwhile, and a second archive run of the month waits for this one.
            try db.execute("LOCK TABLE \(partition) IN SHARE ROW EXCLUSIVE MODE")
            var archived = try Self.contents(of: month, on: db)
            let archive = ArchiveFile(directory: directory, name: archived.file)
            let written = try archive.write { sink in
                let copied = try db.copyOut(
                    "COPY (SELECT \(Self.columns.joined(separator: ", ")) FROM \(partition) ORDER BY seq) TO STDOUT", sink)
                guard copied == archived.rows else {
                    throw ArchiveError(description: "\(partition) gave \(copied) rows, not the \(archived.rows) counted")
                }
            }
            file = archive
            guard written.rows == archived.rows else {
                throw ArchiveError(description: "\(archived.file) holds \(written.rows) lines for \(archived.rows) rows")
            }
            archived.sha256 = written.sha256
            archived.logSeq = try db.query("""
                INSERT INTO outbox.log (stream, type, data)
                VALUES ('log', $10, jsonb_strip_nulls(jsonb_build_object(
                    'month', $1::text, 'partition', $2::text, 'file', $3::text, 'rows', $4::bigint,
                    'first_seq', $5::bigint, 'last_seq', $6::bigint, 'max_intent_id', $7::bigint,
                    'sha256', $8::text, 'format', 'COPY text', 'columns', to_jsonb($9::text[]))))
                RETURNING seq
                """, [month.description, partition, archived.file, archived.rows, archived.firstSeq, archived.lastSeq,
                      archived.maxIntentID, written.sha256, Self.columns, LogType.logArchived]).first!.decode(0)
            try db.execute("""
                INSERT INTO outbox.log_archives
                    (month, partition_name, file_name, rows, first_seq, last_seq, max_intent_id, sha256, log_seq)
                VALUES ($1::date, $2, $3, $4, $5, $6, $7, $8, $9)
                """, ["\(month)-01", partition, archived.file, archived.rows, archived.firstSeq, archived.lastSeq,
                      archived.maxIntentID, written.sha256, archived.logSeq])
            // Appends wait while the parent is locked for the detach: never for long.
            try db.execute("SET LOCAL lock_timeout = '2s'")
            try db.execute("ALTER TABLE outbox.log DETACH PARTITION \(partition)")
            try db.execute("DROP TABLE \(partition)")
            committing = true
            guard try db.query("COMMIT").commandTag == "COMMIT" else {
                throw ArchiveError(description: "the transaction archiving \(month) was rolled back")
            }
            return archived
        } catch {
            // Whether a COMMIT that failed on a lost connection took effect is unknown: the files
            // stay then, and outbox.log_archives tells.
            guard db.isOpen || !committing else {
                throw ArchiveError(description: "the connection was lost while archiving \(month): \(error). "
                    + "Keep \(file?.name ?? "its file") and check outbox.log_archives for \(month) before running again")
            }
            _ = try? db.execute("ROLLBACK")
            file?.remove()
            if let error = error as? PostgresError, error.code == .lockNotAvailable {
                throw ArchiveError(description: "the log is busy (a long transaction holds it, such as verify): "
                    + "\(month) was not archived; try again")
            }
            if let error = error as? PostgresError, error.code == .undefinedTable {
                throw ArchiveError(description: "\(month) was archived by another run meanwhile (see outbox.log_archives)")
            }
            throw error
        }
    }
}
