import Foundation
import Postgres

/// The log's monthly partitions (`outbox.log_YYYY_MM`, UTC months) are created ahead of time,
/// so that no append ever waits for one: `migrate` creates them, and workers and `serve` call
/// `ensure` again every `checkInterval`. A DEFAULT partition catches anything outside them, and
/// `ensure` files such rows into their own month.
public enum LogPartitions {
    /// Months created after the current one. Default 3: a quarter without any process running
    /// before the default partition would start to fill.
    public static let monthsAhead = 3
    /// How often long-running processes check. Default one hour.
    public static let checkInterval: Duration = .seconds(3600)

    /// Creates what is missing; returns the partitions created (usually none).
    @discardableResult
    public static func ensure(monthsAhead: Int = monthsAhead, on db: Connection) throws -> [String] {
        try db.query("SELECT outbox.ensure_log_partitions($1::int)", [monthsAhead]).map { try $0.decode(0) }
    }
}

/// A calendar month of the log (UTC), e.g. `2026-11`, and the partition that holds it.
public struct LogMonth: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var year: Int
    public var month: Int

    public init?(year: Int, month: Int) {
        guard (1...9999).contains(year), (1...12).contains(month) else { return nil }
        self.year = year
        self.month = month
    }

    /// `YYYY-MM`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let year = Int(parts[0]), let month = Int(parts[1])
        else { return nil }
        self.init(year: year, month: month)
    }

    /// From a partition's name, `log_YYYY_MM`.
    init?(partition name: String) {
        guard name.hasPrefix("log_"), name.count == 11 else { return nil }
        self.init(name.dropFirst(4).replacingOccurrences(of: "_", with: "-"))
    }

    public var description: String { "\(year)-\(month < 10 ? "0" : "")\(month)" }
    /// The partition's name in the `outbox` schema.
    public var partition: String { "log_" + description.replacingOccurrences(of: "-", with: "_") }
    /// The first instant of the month, as PostgreSQL reads it.
    public var start: String { "\(description)-01 00:00:00+00" }

    public static func < (a: LogMonth, b: LogMonth) -> Bool { (a.year, a.month) < (b.year, b.month) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let month = LogMonth(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a YYYY-MM month"))
        }
        self = month
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
