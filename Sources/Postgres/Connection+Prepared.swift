import CLibpq

extension Connection {
    /// Like `query`, but the statement is parsed and planned once per connection and reused:
    /// for the statements a worker runs thousands of times a minute, planning costs as much as
    /// running. Parameter types come from the first call; later calls must pass the same types.
    @discardableResult
    public func queryPrepared(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> QueryResult {
        try ensureOpen()
        let name: String
        if let known = preparedStatements[sql] {
            name = known
        } else {
            name = "b24o_\(preparedStatements.count + 1)"
            let types = parameters.map { type(of: $0).postgresType.rawValue }
            _ = try consume(PQprepare(handle, name, sql, Int32(types.count), types))
            preparedStatements[sql] = name
        }
        let result = try withParameters(parameters) { _, values in
            PQexecPrepared(handle, name, Int32(parameters.count), values, nil, nil, 0)
        }
        return try consume(result)
    }
}
