import Foundation
import Outbox
import Postgres

/// A database of the benchmark's own on the given server, created fresh for each workload and
/// dropped afterwards, so no workload sees another's rows and no user data is touched.
final class BenchDatabase {
    let conninfo: String
    private let name: String
    private let adminConninfo: String

    init(server adminConninfo: String, name: String) throws {
        guard name.hasPrefix("b24outbox_bench") else { throw BenchError("bench databases are named b24outbox_bench…") }
        self.adminConninfo = adminConninfo
        self.name = name
        let admin = try Self.connectAdmin(adminConninfo)
        defer { admin.close() }
        try admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        do {
            try admin.execute("CREATE DATABASE \(name)")
        } catch let error as PostgresError {
            throw BenchError("cannot create the database \(name): \(error.message) (the bench needs CREATEDB)")
        }
        conninfo = Conninfo.replacingDatabase(in: adminConninfo, with: name)
        let db = try Connection(conninfo)
        defer { db.close() }
        _ = try Migrator().migrate(on: db)
    }

    func connect() throws -> Connection {
        try Connection(conninfo)
    }

    func drop() {
        if let admin = try? Connection(adminConninfo) {
            _ = try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            admin.close()
        }
    }

    private static func connectAdmin(_ conninfo: String) throws -> Connection {
        do {
            return try Connection(conninfo)
        } catch let error as PostgresError {
            throw BenchError("cannot connect to PostgreSQL: \(error.message). Check --database-url or DATABASE_URL.")
        }
    }
}
