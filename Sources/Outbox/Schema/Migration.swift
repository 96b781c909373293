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

/// One file of `sql/functions/`: the current text of one function, with its grants. `migrate`
/// applies it after the numbered migrations whenever its text changes.
public struct FunctionFile: Sendable, Hashable {
    /// The file name, e.g. `enqueue.sql`; recorded as `functions/enqueue.sql`.
    public var name: String
    public var sql: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }

    /// The name `migrate --status` lists it under (`outbox.schema_functions` holds `name`).
    public var recordedName: String { "functions/" + name }

    /// The function files this build carries, in dependency order.
    public static let bundled: [FunctionFile] = inDependencyOrder(embeddedFunctions.map { FunctionFile(name: $0.name, sql: $0.sql) })

    /// Files ordered so that each comes after the files whose function it calls (`outbox.name(`):
    /// a SQL-language function's body is checked against what exists when it is created. Files in
    /// a cycle keep their name order.
    public static func inDependencyOrder(_ files: [FunctionFile]) -> [FunctionFile] {
        let sorted = files.sorted { $0.name < $1.name }
        let names = Set(sorted.map { String($0.name.dropLast(4)) })
        var dependencies: [String: Set<String>] = [:]
        for file in sorted {
            let own = String(file.name.dropLast(4))
            dependencies[file.name] = Set(names.filter { $0 != own && file.sql.contains("outbox.\($0)(") }.map { $0 + ".sql" })
        }
        var placed: Set<String> = []
        var result: [FunctionFile] = []
        while result.count < sorted.count {
            let ready = sorted.filter { !placed.contains($0.name) && dependencies[$0.name]!.isSubset(of: placed) }
            // A cycle: take the first unplaced file as it is.
            for file in ready.isEmpty ? [sorted.first { !placed.contains($0.name) }!] : ready {
                placed.insert(file.name)
                result.append(file)
            }
        }
        return result
    }
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
        /// A function file applied with other text than this build's: `migrate` applies it again.
        case outdated
    }

    public var name: String
    public var state: State
    public var appliedAt: String?
}

/// Why `migrate` refused to run.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
