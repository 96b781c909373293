import Foundation
import Postgres

extension AuditLog {
    /// Reads the log as it grows (`log --follow`), every matching entry exactly once, those that
    /// commit out of `seq` order included.
    ///
    /// A long transaction (a producer's, holding its enqueue's entry) draws its `seq` before
    /// entries that commit ahead of it, so paging by `seq > last` would step over it. Instead,
    /// a missing `seq` below one already read is kept as a gap and asked for again at every
    /// poll, until no transaction that could still commit it is running: a transaction id is
    /// drawn right after the poll that found the gap, and the gap settles once a snapshot's
    /// xmin has passed that id (every transaction that had an id then has ended) and
    /// `settleDelay` has passed. Then the number is one that was rolled back or skipped, never
    /// to appear. (A transaction writes its entry, and so has an id, the moment it draws the
    /// number; only one stalled between the two for longer than the poll could be missed.)
    public struct Follower: Sendable {
        public var filter: Filter
        /// Seqs asked for at each poll beyond those already read (more are read at the next).
        public var pageSize = 10_000
        public var settleDelay: Duration = .seconds(1)

        /// Every seq at or below this is done with: read, or never to be committed.
        public private(set) var settled: Int64
        /// The highest seq read.
        private var top: Int64
        /// Missing seqs above `settled` and below `top`, in order; every other seq in that
        /// range has been read.
        private var gaps: [Gap] = []

        struct Gap: Sendable {
            var range: ClosedRange<Int64>
            /// A transaction id drawn just after the poll that found it.
            var horizon: Int64
            var foundAt: ContinuousClock.Instant
        }

        /// Starts after `filter.afterSeq`.
        public init(filter: Filter) {
            self.filter = filter
            self.settled = filter.afterSeq
            self.top = filter.afterSeq
        }

        /// Gaps not yet settled (for tests and for `--follow`'s patience).
        public var openGaps: Int { gaps.count }

        /// True when the last poll read a full page: call again at once.
        public private(set) var hasMore = false

        /// The entries that became visible since the last poll, in `seq` order within the poll.
        /// Run it outside a transaction. When it throws, nothing is consumed: the next poll
        /// returns those entries.
        public mutating func poll(on db: Connection, now: ContinuousClock.Instant = .now) throws -> [Entry] {
            let row = try db.query("""
                WITH snapshot AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin),
                     fresh AS (SELECT seq FROM outbox.log WHERE seq > $1 ORDER BY seq LIMIT $2),
                     late AS (SELECT l.seq FROM unnest($3::text::bigint[], $4::text::bigint[]) g(lo, hi)
                                JOIN outbox.log l ON l.seq BETWEEN g.lo AND g.hi)
                SELECT xmin,
                       (SELECT count(*) FROM fresh),
                       coalesce((SELECT string_agg(seq::text, ',' ORDER BY seq)
                                   FROM (SELECT seq FROM fresh UNION SELECT seq FROM late) s), '')
                  FROM snapshot
                """, [top, pageSize, Self.arrayText(gaps.map(\.range.lowerBound)), Self.arrayText(gaps.map(\.range.upperBound))]
            ).first!
            let xmin: Int64 = try row.decode(0)
            let visible = try row.decode(2, as: String.self).split(separator: ",").compactMap { Int64($0) }
            var next = self
            next.hasMore = try row.decode(1, as: Int64.self) >= pageSize
            var new: [Int64] = [], found: [Int] = []
            for seq in visible {
                if seq > next.top {
                    if seq > next.top + 1 {
                        found.append(next.gaps.count)
                        next.gaps.append(Gap(range: (next.top + 1)...(seq - 1), horizon: .max, foundAt: now))
                    }
                    next.top = seq
                    new.append(seq)
                } else if next.fill(seq) {
                    new.append(seq)
                }
            }
            if !found.isEmpty {
                // A transaction id drawn now is newer than that of every transaction that held a
                // missing number when the query above ran (each had its id once it wrote its
                // entry): once the snapshot's xmin has passed it, all of them have ended.
                let horizon: Int64 = try db.query("SELECT pg_current_xact_id()::text::bigint").first!.decode(0)
                for index in found { next.gaps[index].horizon = horizon }
            }
            next.gaps.removeAll { xmin > $0.horizon && now - $0.foundAt >= settleDelay }
            next.settled = next.gaps.first.map { $0.range.lowerBound - 1 } ?? next.top
            new.sort()
            var entries: [Entry] = []
            if !new.isEmpty {
                var page = filter
                page.afterSeq = 0
                page.limit = new.count
                entries = try AuditLog.entries(page, among: new, on: db)
            }
            self = next
            return entries
        }

        /// A seq inside a gap turned up: the gap keeps the rest. False when no gap holds it.
        private mutating func fill(_ seq: Int64) -> Bool {
            // Gaps are in order and apart: the first whose end is at or after seq.
            var low = 0, high = gaps.count
            while low < high {
                let middle = (low + high) / 2
                if gaps[middle].range.upperBound < seq { low = middle + 1 } else { high = middle }
            }
            guard low < gaps.count, gaps[low].range.contains(seq) else { return false }
            let gap = gaps.remove(at: low)
            var parts: [Gap] = []
            if gap.range.lowerBound < seq { parts.append(Gap(range: gap.range.lowerBound...(seq - 1), horizon: gap.horizon, foundAt: gap.foundAt)) }
            if seq < gap.range.upperBound { parts.append(Gap(range: (seq + 1)...gap.range.upperBound, horizon: gap.horizon, foundAt: gap.foundAt)) }
            gaps.insert(contentsOf: parts, at: low)
            return true
        }

        static func arrayText(_ values: [Int64]) -> String {
            "{" + values.map(String.init).joined(separator: ",") + "}"
        }
    }
}
