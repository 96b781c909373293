/// The rows of one statement, copied out of libpq's result so they outlive it.
public struct QueryResult: Sendable, Sequence {
    public struct Column: Sendable, Hashable {
        public var name: String
        public var type: PostgresType
    }

    final class Storage: Sendable {
        let columns: [Column]
        let indexByName: [String: Int]
        let values: [String?]  // row-major

        init(columns: [Column], values: [String?]) {
            self.columns = columns
            self.values = values
            var index: [String: Int] = [:]
            for (i, column) in columns.enumerated() where index[column.name] == nil { index[column.name] = i }
            self.indexByName = index
        }
    }

    let storage: Storage
    /// Rows returned (SELECT, RETURNING).
    public let count: Int
    /// Rows affected, from the command tag (INSERT, UPDATE, DELETE, COPY…); 0 when it has none.
    public let affectedRows: Int
    /// The server's command tag: `INSERT 0 1`, `UPDATE 3`, `COMMIT`…
    public let commandTag: String

    public var columns: [Column] { storage.columns }
    public var isEmpty: Bool { count == 0 }
    public var first: Row? { count > 0 ? Row(storage: storage, index: 0) : nil }

    public subscript(index: Int) -> Row {
        precondition(index >= 0 && index < count, "row index out of range")
        return Row(storage: storage, index: index)
    }

    public func makeIterator() -> AnyIterator<Row> {
        var i = 0
        return AnyIterator {
            guard i < count else { return nil }
            defer { i += 1 }
            return Row(storage: storage, index: i)
        }
    }
}

/// One row of a `QueryResult`.
public struct Row: Sendable {
    let storage: QueryResult.Storage
    let index: Int

    public var columnCount: Int { storage.columns.count }

    /// The raw text of a column (nil for NULL).
    public func text(_ column: Int) -> String? {
        storage.values[index * storage.columns.count + column]
    }

    public func decode<T: PostgresDecodable>(_ column: Int, as type: T.Type = T.self) throws -> T {
        guard column >= 0 && column < storage.columns.count else {
            throw PostgresDecodingError(column: "#\(column)", reason: "no such column")
        }
        let meta = storage.columns[column]
        return try T.decode(postgresText: text(column), type: meta.type, column: meta.name)
    }

    public func decode<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let column = storage.indexByName[name] else {
            throw PostgresDecodingError(column: name, reason: "no such column")
        }
        return try decode(column, as: T.self)
    }
}
