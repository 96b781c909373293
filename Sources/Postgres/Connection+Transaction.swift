extension Connection {
    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws (the error
    /// is rethrown). Called inside another transaction, it becomes a savepoint, so an inner
    /// failure undoes only the inner work.
    @discardableResult
    public func transaction<T>(_ body: (Connection) throws -> T) throws -> T {
        let nested = isInTransaction
        if nested {
            savepointDepth += 1
        }
        let savepoint = "outbox_sp_\(savepointDepth)"
        defer { if nested { savepointDepth -= 1 } }
        try execute(nested ? "SAVEPOINT \(savepoint)" : "BEGIN")
        do {
            let value = try body(self)
            if nested {
                try execute("RELEASE SAVEPOINT \(savepoint)")
            } else if try query("COMMIT").commandTag == "ROLLBACK" {
                // A statement failed inside the body and its error was swallowed: nothing was saved.
                throw PostgresError(
                    code: .init(rawValue: "25P02"),
                    message: "the transaction was rolled back because a statement in it failed")
            }
            return value
        } catch {
            // The original error matters more than a failed rollback on a dead connection.
            _ = try? execute(nested ? "ROLLBACK TO SAVEPOINT \(savepoint)" : "ROLLBACK")
            throw error
        }
    }
}
