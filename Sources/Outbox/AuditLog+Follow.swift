import Foundation
import Postgres

extension AuditLog {
    /// Reads the log as it grows (`log --follow`), every matching entry exactly once, those that
    /// commit out of `seq` order included.
    ///
    /// A long transaction (a producer's, holding its enqueue's entry) draws its `seq` before
    /// entries that commit ahead of it, so paging by `seq > last` would step over it. Instead,
    /// a missing `seq` below one already read is kept as a gap and asked for again at every
    /// poll, until no transaction that could still commit it is running: every transaction
    /// whose id is below the newest id at the poll that found the gap has ended (the snapshot's
    /// xmin has passed it), and `settleDelay` has passed (a transaction that drew its number
    /// just before that poll, but had no id yet, has one by then). Then the number is one
    /// that was rolled back or skipped, never to appear.
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
            /// The snapshot's xmax at the poll that found it.
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
        public mutating func poll(on db: Connection, now: ContinuousClock.Instant = .now) throws -> [Entry] {
            let row = try db.query("""
                WITH snapshot AS (SELECT pg_snapshot_xmin(s)::text::bigint AS xmin, pg_snapshot_xmax(s)::text::bigint AS xmax
                                    FROM pg_current_snapshot() s),
                     fresh AS (SELECT seq FROM outbox.log WHERE seq > $1 ORDER BY seq LIMIT $2),
                     late AS (SELECT l.seq FROM unnest($3::text::bigint[], $4::text::bigint[]) g(lo, hi)
                                JOIN outbox.log l ON l.seq BETWEEN g.lo AND g.hi)
                SELECT xmin, xmax,
                       (SELECT count(*) FROM fresh),
                       coalesce((SELECT string_agg(seq::text, ',' ORDER BY seq)
                                   FROM (SELECT seq FROM fresh UNION SELECT seq FROM late) s), '')
                  FROM snapshot
                """, [top, pageSize, Self.arrayText(gaps.map(\.range.lowerBound)), Self.arrayText(gaps.map(\.range.upperBound))]
            ).first!
            let xmin: Int64 = try row.decode(0), xmax: Int64 = try row.decode(1)
            hasMore = try row.decode(2, as: Int64.self) >= pageSize
            let visible = try row.decode(3, as: String.self).split(separator: ",").compactMap { Int64($0) }
            var new: [Int64] = []
            for seq in visible {
                if seq > top {
                    if seq > top + 1 { gaps.append(Gap(range: (top + 1)...(seq - 1), horizon: xmax, foundAt: now)) }
                    top = seq
                    new.append(seq)
                } else if fill(seq) {
                    new.append(seq)
                }
            }
            gaps.removeAll { xmin >= $0.horizon && now - $0.foundAt >= settleDelay }
            settled = gaps.first.map { $0.range.lowerBound - 1 } ?? top
            new.sort()
            guard !new.isEmpty else { return [] }
            var page = filter
            page.afterSeq = 0
            page.limit = new.count
            return try AuditLog.entries(page, among: new, on: db)
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
            let index = low
            let gap = gaps.remove(at: index)
            var parts: [Gap] = []
            if gap.range.lowerBound < seq { parts.append(Gap(range: gap.range.lowerBound...(seq - 1), horizon: gap.horizon, foundAt: gap.foundAt)) }
            if seq < gap.range.upperBound { parts.append(Gap(range: (seq + 1)...gap.range.upperBound, horizon: gap.horizon, foundAt: gap.foundAt)) }
            gaps.insert(contentsOf: parts, at: index)
            return true
        }

        static func arrayText(_ values: [Int64]) -> String {
            "{" + values.map(String.init).joined(separator: ",") + "}"
        }
    }
}
