/// An error reported by PostgreSQL or by libpq.
///
/// `description` is safe to log: it never contains the SQL text or the parameters. PostgreSQL's
/// DETAIL often echoes row values (`Key (x)=(…) already exists`), so it is kept in `detail` and
/// left out of `description`.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// A SQLSTATE. An open set: compare with the constants or by `errorClass`.
    public struct Code: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }
        public var description: String { rawValue }

        /// The first two characters: `23` integrity constraint violation, `08` connection exception…
        public var errorClass: Substring { rawValue.prefix(2) }

        public static let uniqueViolation: Code = "23505"
        public static let foreignKeyViolation: Code = "23503"
        public static let notNullViolation: Code = "23502"
        public static let checkViolation: Code = "23514"
        public static let restrictViolation: Code = "23001"
        public static let invalidTextRepresentation: Code = "22P02"
        public static let invalidParameterValue: Code = "22023"
        public static let characterNotInRepertoire: Code = "22021"
        public static let raiseException: Code = "P0001"
        public static let noDataFound: Code = "P0002"
        public static let wrongObjectType: Code = "42809"
        public static let serializationFailure: Code = "40001"
        public static let deadlockDetected: Code = "40P01"
        public static let undefinedTable: Code = "42P01"
        public static let undefinedFunction: Code = "42883"
        public static let insufficientPrivilege: Code = "42501"
        public static let queryCanceled: Code = "57014"
        public static let lockNotAvailable: Code = "55P03"
        public static let adminShutdown: Code = "57P01"
        public static let cannotConnectNow: Code = "57P03"
        public static let connectionException: Code = "08000"
        public static let connectionDoesNotExist: Code = "08003"
        public static let connectionFailure: Code = "08006"
        public static let protocolViolation: Code = "08P01"
    }

    public var code: Code
    /// PostgreSQL's primary message (or libpq's, for errors raised on the client side).
    public var message: String
    public var detail: String?
    public var hint: String?
    public var constraint: String?
    public var schema: String?
    public var table: String?
    public var column: String?

    public init(
        code: Code, message: String, detail: String? = nil, hint: String? = nil,
        constraint: String? = nil, schema: String? = nil, table: String? = nil, column: String? = nil
    ) {
        self.code = code
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.schema = schema
        self.table = table
        self.column = column
    }

    /// The connection is gone or unusable: reconnect before trying again.
    public var isConnectionError: Bool {
        code.errorClass == "08" || code == .adminShutdown || code == .cannotConnectNow
    }

    public var description: String {
        var text = "\(safeMessage) (SQLSTATE \(code.rawValue)"
        if let constraint { text += ", constraint \(constraint)" }
        text += ")"
        if let hint { text += ". Hint: \(hint)" }
        return text
    }

    /// Data exceptions (class 22) quote the rejected input: `invalid input syntax for type
    /// integer: "abc"`. That input is a parameter, so it is cut off.
    private var safeMessage: String {
        guard code.errorClass == "22", let quote = message.range(of: ": \"") else { return message }
        return String(message[..<quote.lowerBound])
    }
}

/// A value that could not be turned into the Swift type asked for.
public struct PostgresDecodingError: Error, Sendable, CustomStringConvertible {
    public var column: String
    public var reason: String

    public init(column: String, reason: String) {
        self.column = column
        self.reason = reason
    }

    public var description: String { "cannot decode column \(column): \(reason)" }
}
