import Postgres

extension Connection {
    /// Runs `sql` as `role` (SET ROLE in a transaction that is rolled back) and returns the
    /// SQLSTATE it failed with; nil when it succeeded.
    public func refusal(as role: String, _ sql: String) -> String? {
        do {
            try execute("BEGIN")
            defer { _ = try? execute("ROLLBACK") }
            try execute("SET LOCAL ROLE \(role)")
            try execute(sql)
            return nil
        } catch let error as PostgresError {
            return error.code.rawValue
        } catch {
            return "\(error)"
        }
    }
}
