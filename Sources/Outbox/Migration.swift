/// One numbered SQL file of `sql/`, compiled into the binary.
public struct Migration: Sendable, Hashable {
    /// The file name, e.g. `001_init.sql`; migrations apply in name order.
    public var name: String
    public var sql: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }

    /// The migrations this build carries, from `sql/*.sql`.
    public static let bundled: [Migration] = embeddedMigrations
        .map { Migration(name: $0.name, sql: $0.sql) }
        .sorted { $0.name < $1.name }
}

/// Where one migration stands in a database.
public struct MigrationStatus: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Codable {
        /// Applied, and the file is unchanged since.
        case applied
        /// Not applied yet.
        case pending
        /// Applied, but the file in this build differs from what was applied.
        case changed
        /// Applied by a newer build: this build does not have the file.
        case unknown
    }

    public var name: String
    public var state: State
    public var appliedAt: String?
}

/// Why `migrate` refused to run.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
