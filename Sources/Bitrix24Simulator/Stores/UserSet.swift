import Foundation

/// The users that exist and are active on a simulated portal: a union of id ranges.
public struct UserSet: Sendable, Hashable, CustomStringConvertible {
    public private(set) var ranges: [ClosedRange<Int64>]

    public init(_ ranges: [ClosedRange<Int64>]) { self.ranges = ranges }
    public init(_ range: ClosedRange<Int64>) { self.ranges = [range] }
    public init(ids: some Sequence<Int64>) { self.ranges = ids.map { $0...$0 } }

    /// Parses `1-1000`, `1,5,7` or `1-10,20-30,99`.
    public init?(parsing text: String) {
        var ranges: [ClosedRange<Int64>] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let low = Int64(bounds[0]) else { return nil }
            let high = bounds.count == 2 ? Int64(bounds[1]) : low
            guard let high, low <= high else { return nil }
            ranges.append(low...high)
        }
        guard !ranges.isEmpty else { return nil }
        self.ranges = ranges
    }

    public func contains(_ id: Int64) -> Bool { ranges.contains { $0.contains(id) } }

    public mutating func insert(_ id: Int64) {
        if !contains(id) { ranges.append(id...id) }
    }

    public mutating func remove(_ id: Int64) {
        ranges = ranges.flatMap { range -> [ClosedRange<Int64>] in
            guard range.contains(id) else { return [range] }
            var pieces: [ClosedRange<Int64>] = []
            if range.lowerBound < id { pieces.append(range.lowerBound...(id - 1)) }
            if id < range.upperBound { pieces.append((id + 1)...range.upperBound) }
            return pieces
        }
    }

    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }
}
