import CLibpq
import Foundation

/// One libpq connection (`PGconn`).
///
/// Not thread-safe, by libpq's rules: a connection is used by one thread at a time, and each
/// worker thread opens its own. It is therefore not `Sendable`. `PQfinish` runs when the
/// connection is closed or released, and also when connecting fails.
public final class Connection {
    let handle: OpaquePointer
    private var closed = false
    var savepointDepth = 0
    /// Statements prepared on this connection, by SQL text (see `queryPrepared`).
    var preparedStatements: [String: String] = [:]

    /// What every connection gets unless its conninfo (or PGCONNECT_TIMEOUT) says otherwise: an
    /// unreachable host gives up after 10 s, and a peer that vanished (a failover, a cut
    /// network) is noticed by TCP keepalives within about a minute, not the kernel's hours.
    public static let defaultParameters: [(keyword: String, value: String)] = [
        ("connect_timeout", "10"),
        ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
    ]

    /// Connects with a conninfo string (`host=… dbname=…`) or a URI (`postgres://user@host/db`).
    /// An empty string uses libpq's defaults and environment (`PGHOST`, `PGPORT`, `PGUSER`, …).
    /// Errors never repeat the conninfo's password.
    public init(_ conninfo: String = "") throws {
        let environment = ProcessInfo.processInfo.environment
        // The user's conninfo comes last, as an expanded dbname, so it overrides the defaults.
        let parameters = Self.defaultParameters.filter { $0.keyword != "connect_timeout" || environment["PGCONNECT_TIMEOUT"] == nil }
            + [("dbname", conninfo)]
        let keywords = parameters.map { strdup($0.keyword) } + [nil]
        let values = parameters.map { strdup($0.value) } + [nil]
        defer { (keywords + values).forEach { free($0) } }
        let connection = keywords.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 1)
            }
        }
        guard let handle = connection else {
            throw PostgresError(code: .connectionFailure, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Conninfo.redacting(Self.lastErrorMessage(handle), conninfo: conninfo)
            PQfinish(handle)
            throw PostgresError(code: .connectionFailure, message: message)
        }
        self.handle = handle
        // Notices ("relation already exists, skipping") would otherwise go to stderr.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        do {
            guard PQsetClientEncoding(handle, "UTF8") == 0 else {
                throw PostgresError(code: .connectionFailure, message: Self.lastErrorMessage(handle))
            }
            // Timestamps are parsed from the ISO text form.
            try execute("SET DateStyle TO ISO")
        } catch {
            close()
            throw error
        }
    }

    deinit {
        if !closed { PQfinish(handle) }
    }

    /// Closes the connection; later calls fail with a connection error.
    public func close() {
        guard !closed else { return }
        closed = true
        PQfinish(handle)
    }

    /// The connection's settings as libpq resolved them (`connect_timeout`, `keepalives`, …),
    /// without the passwords.
    public var settings: [String: String] {
        guard let options = PQconninfo(handle) else { return [:] }
        defer { PQconninfoFree(options) }
        var result: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            if name != "password" && name != "sslpassword", let value = option.pointee.val { result[name] = String(cString: value) }
            option += 1
        }
        return result
    }

    /// False once the server connection is lost or closed.
    public var isOpen: Bool { !closed && PQstatus(handle) == CONNECTION_OK }

    /// True between BEGIN and COMMIT/ROLLBACK.
    public var isInTransaction: Bool {
        !closed && PQtransactionStatus(handle) != PQTRANS_IDLE
    }

    /// The server's process id for this session (handy for `pg_terminate_backend` in tests).
    public var backendPID: Int32 { PQbackendPID(handle) }

    /// Runs one statement with `$1…$n` parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> QueryResult {
        try ensureOpen()
        guard parameters.count <= Int(Int32.max) else {
            throw PostgresError(code: .protocolViolation, message: "too many parameters")
        }
        let result = try withParameters(parameters) { types, values in
            PQexecParams(handle, sql, Int32(parameters.count), types, values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        try query(sql, parameters).affectedRows
    }

    // MARK: Internals

    func ensureOpen() throws {
        if closed {
            throw PostgresError(code: .connectionDoesNotExist, message: "the connection is closed")
        }
    }

    /// Hands libpq C strings that stay alive for the whole call and are freed after it.
    func withParameters<R>(
        _ parameters: [any PostgresEncodable],
        _ body: (UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?) -> R
    ) throws -> R {
        var types = [Oid]()
        var values = [UnsafeMutablePointer<CChar>?]()
        types.reserveCapacity(parameters.count)
        values.reserveCapacity(parameters.count)
        defer { values.forEach { free($0) } }
        for (i, parameter) in parameters.enumerated() {
            types.append(type(of: parameter).postgresType.rawValue)
            guard let text = parameter.postgresText else {
                values.append(nil)
                continue
            }
            var checked = text
            guard !checked.withUTF8({ bytes in bytes.baseAddress.map { memchr($0, 0, bytes.count) != nil } ?? false }) else {
                throw PostgresError(
                    code: .characterNotInRepertoire,
                    message: "parameter $\(i + 1) contains a NUL character, which PostgreSQL text cannot hold")
            }
            values.append(strdup(text))
        }
        return types.withUnsafeBufferPointer { typeBuffer in
            values.withUnsafeBufferPointer { valueBuffer in
                valueBuffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { constValues in
                    body(typeBuffer.baseAddress, constValues.baseAddress)
                }
            }
        }
    }

    /// Turns a libpq result into rows or an error, and always clears it.
    func consume(_ result: OpaquePointer?) throws -> QueryResult {
        guard let result else { throw connectionError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            return Self.rows(of: result)
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            throw error(from: result)
        default:
            throw PostgresError(
                code: .protocolViolation,
                message: "unexpected result status \(String(cString: PQresStatus(PQresultStatus(result))))")
        }
    }

    static func rows(of result: OpaquePointer) -> QueryResult {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns = [QueryResult.Column]()
        columns.reserveCapacity(columnCount)
        for c in 0..<columnCount {
            columns.append(.init(
                name: String(cString: PQfname(result, Int32(c))),
                type: PostgresType(rawValue: PQftype(result, Int32(c)))))
        }
        var values = [String?]()
        values.reserveCapacity(rowCount * columnCount)
        for r in 0..<Int32(rowCount) {
            for c in 0..<Int32(columnCount) {
                values.append(PQgetisnull(result, r, c) == 1 ? nil : String(cString: PQgetvalue(result, r, c)))
            }
        }
        return QueryResult(
            storage: .init(columns: columns, values: values), count: rowCount,
            affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0,
            commandTag: String(cString: PQcmdStatus(result)))
    }

    func error(from result: OpaquePointer) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        guard let sqlstate = field(CLIBPQ_DIAG_SQLSTATE) else {
            // Raised by libpq itself (lost connection and the like): no SQLSTATE.
            let message = String(cString: PQresultErrorMessage(result))
            return PostgresError(code: isOpen ? .protocolViolation : .connectionFailure, message: Self.trimmed(message))
        }
        return PostgresError(
            code: .init(rawValue: sqlstate),
            message: field(CLIBPQ_DIAG_MESSAGE_PRIMARY) ?? "unknown error",
            detail: field(CLIBPQ_DIAG_MESSAGE_DETAIL),
            hint: field(CLIBPQ_DIAG_MESSAGE_HINT),
            constraint: field(CLIBPQ_DIAG_CONSTRAINT_NAME),
            schema: field(CLIBPQ_DIAG_SCHEMA_NAME),
            table: field(CLIBPQ_DIAG_TABLE_NAME),
            column: field(CLIBPQ_DIAG_COLUMN_NAME))
    }

    func connectionError() -> PostgresError {
        PostgresError(code: .connectionFailure, message: Self.lastErrorMessage(handle))
    }

    static func lastErrorMessage(_ handle: OpaquePointer) -> String {
        let message = Conninfo.redacting(trimmed(String(cString: PQerrorMessage(handle))))
        return message.isEmpty ? "connection failed" : message
    }

    /// libpq messages end in newlines and sometimes carry a second, tab-indented advice line.
    static func trimmed(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .joined(separator: "; ")
    }
}

@available(*, unavailable, message: "a libpq connection belongs to one thread at a time")
extension Connection: Sendable {}

extension Connection {
    /// Runs a script of several statements with the simple query protocol (no parameters).
    /// Only for trusted SQL such as the bundled migrations, never for text from users.
    public func executeScript(_ sql: String) throws {
        try ensureOpen()
        _ = try consume(PQexec(handle, sql))
    }
}
