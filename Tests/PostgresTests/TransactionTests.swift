import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct TransactionTests {
    struct Boom: Error {}

    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        scratch = try ScratchDatabase()
        db = try scratch.connect()
        try db.execute("CREATE TABLE items (name text NOT NULL)")
    }

    func count() throws -> Int {
        try db.query("SELECT count(*) FROM items").first!.decode(0)
    }

    @Test func commitsWhenTheBodyReturns() throws {
        let value = try db.transaction { db in
            try db.execute("INSERT INTO items VALUES ('a')")
            return 7
        }
        #expect(value == 7)
        // Seen from another connection, so it really was committed.
        let other = try scratch.connect()
        #expect(try other.query("SELECT count(*) FROM items").first!.decode(0, as: Int.self) == 1)
    }

    @Test func throwingBodyLeavesNoRowBehind() throws {
        #expect(throws: Boom.self) {
            try db.transaction { db in
                try db.execute("INSERT INTO items VALUES ('a')")
                try db.execute("INSERT INTO items VALUES ('b')")
                throw Boom()
            }
        }
        #expect(try count() == 0)
        #expect(!db.isInTransaction)
    }

    @Test func swallowedStatementErrorDoesNotCommitSilently() throws {
        #expect(throws: PostgresError.self) {
            try db.transaction { db in
                try db.execute("INSERT INTO items VALUES ('a')")
                _ = try? db.execute("INSERT INTO items VALUES (NULL)")
            }
        }
        #expect(try count() == 0)
    }

    @Test func nestedTransactionIsASavepoint() throws {
        try db.transaction { db in
            try db.execute("INSERT INTO items VALUES ('outer')")
            #expect(throws: Boom.self) {
                try db.transaction { db in
                    try db.execute("INSERT INTO items VALUES ('inner')")
                    throw Boom()
                }
            }
        }
        #expect(try db.query("SELECT name FROM items").map { try $0.decode(0, as: String.self) } == ["outer"])
    }
}
