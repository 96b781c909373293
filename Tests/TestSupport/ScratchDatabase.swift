import Foundation
import Postgres
import Testing

/// What the test run was given: scripts/test.sh exports DATABASE_URL for its own cluster.
public enum TestEnvironment {
    public static var databaseURL: String? {
        ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static var isCI: Bool {
        ProcessInfo.processInfo.environment["CI"].map { ["true", "1"].contains($0.lowercased()) } ?? false
    }

    /// Database tests run when a database is configured, and always under CI, where a missing
    /// database must fail them rather than skip them.
    public static var hasDatabase: Bool { databaseURL != nil || isCI }
}

/// A database of its own for one test, created from DATABASE_URL and dropped afterwards, so
/// tests run in parallel without seeing each other's rows.
public final class ScratchDatabase: Sendable {
    public let conninfo: String
    private let name: String
    private let adminConninfo: String

    public init() throws {
        guard let admin = TestEnvironment.databaseURL else {
            throw ScratchDatabaseError(description: "DATABASE_URL is not set: run the tests with scripts/test.sh")
        }
        adminConninfo = admin
        name = "b24outbox_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        let db = try Connection(admin)
        try db.execute("CREATE DATABASE \(try db.quoteIdentifier(name))")
        conninfo = Conninfo.replacingDatabase(in: admin, with: name)
    }

    deinit {
        if let db = try? Connection(adminConninfo), let quoted = try? db.quoteIdentifier(name) {
            _ = try? db.execute("DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)")
        }
    }

    public func connect() throws -> Connection {
        try Connection(conninfo)
    }
}

public struct ScratchDatabaseError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
