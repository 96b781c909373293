import Foundation
import LocalProcess
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct ErrorTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        scratch = try ScratchDatabase()
        db = try scratch.connect()
        try db.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, email text CONSTRAINT accounts_email_key UNIQUE)")
    }

    @Test func uniqueViolationCarriesSQLStateAndConstraint() throws {
        try db.execute("INSERT INTO accounts VALUES (1, $1)", ["secret-person@example.com"])
        let error = try #require(throws: PostgresError.self) {
            try db.execute("INSERT INTO accounts VALUES (2, $1)", ["secret-person@example.com"])
        }
        #expect(error.code == .uniqueViolation)
        #expect(error.code.rawValue == "23505")
        #expect(error.constraint == "accounts_email_key")
        #expect(error.table == "accounts")
        #expect(error.detail?.contains("already exists") == true)
        // Neither the statement nor the parameter value reaches the description.
        #expect(!error.description.contains("secret-person"))
        #expect(!error.description.contains("INSERT"))
        #expect(error.description.contains("23505"))
    }

    @Test func dataExceptionsDoNotEchoTheParameter() throws {
        let error = try #require(throws: PostgresError.self) {
            try db.query("SELECT $1::integer", ["hunter2-token"])
        }
        #expect(error.code == .invalidTextRepresentation)
        #expect(error.message.contains("hunter2-token"))  // PostgreSQL's own text keeps it…
        #expect(!error.description.contains("hunter2-token"))  // …the loggable description does not.
        #expect(!error.description.contains("SELECT"))
    }

    @Test func syntaxErrorDescriptionHasNoSQL() throws {
        let error = try #require(throws: PostgresError.self) {
            try db.query("SELEKT secret_column FROM accounts")
        }
        #expect(error.code.rawValue == "42601")
        #expect(!error.description.contains("secret_column"))
    }

    @Test func nulCharacterInParameterIsRefusedBeforeSending() throws {
        let error = try #require(throws: PostgresError.self) {
            try db.execute("INSERT INTO accounts VALUES (3, $1)", ["a\u{0}b"])
        }
        #expect(error.code == .characterNotInRepertoire)
        #expect(try db.query("SELECT count(*) FROM accounts").first!.decode(0, as: Int.self) == 0)
    }

    @Test func connectingToAClosedPortFailsClearlyAndLeaksNothing() throws {
        let port = try freeLoopbackPort()
        let before = openFileDescriptors()
        for _ in 0..<200 {
            let error = try #require(throws: PostgresError.self) {
                try Connection("host=127.0.0.1 port=\(port) dbname=x user=x connect_timeout=2")
            }
            #expect(error.isConnectionError)
            #expect(error.message.contains("Connection refused"))
        }
        // A leaked PGconn keeps its socket open: 200 failed attempts would show up here.
        #expect(openFileDescriptors() - before < 50)
    }

    @Test func closedConnectionReportsAConnectionError() throws {
        let other = try scratch.connect()
        other.close()
        let error = try #require(throws: PostgresError.self) { try other.query("SELECT 1") }
        #expect(error.isConnectionError)
    }

    @Test func terminatedBackendSurfacesAsConnectionError() throws {
        let victim = try scratch.connect()
        try db.execute("SELECT pg_terminate_backend($1)", [victim.backendPID])
        let error = try #require(throws: PostgresError.self) { try victim.query("SELECT 1") }
        #expect(error.isConnectionError)
        #expect(!victim.isOpen)
    }

    private func openFileDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }
}
