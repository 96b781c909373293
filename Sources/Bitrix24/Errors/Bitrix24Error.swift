import Bitrix24Wire
import Foundation

/// A failed Bitrix24 call: what Bitrix24 (or the network) said, and what the caller may do next.
///
/// `description` carries the code, class, status, method and Bitrix's own text, scrubbed of the
/// client's secrets; never a URL, a parameter or a token.
public struct Bitrix24Error: Error, Sendable, Hashable {
    public var code: Code
    /// Bitrix24's `error_description`, or a short secret-free account of a transport problem.
    public var errorDescription: String?
    public var failureClass: FailureClass
    /// The HTTP status, when a response arrived (nil for transport errors and batch commands).
    public var httpStatus: Int?
    /// The REST method, e.g. `im.notify.personal.add`.
    public var method: String?

    /// With no `failureClass`, it is derived from the code and status (`FailureClass.classify`).
    public init(
        code: Code, errorDescription: String? = nil, httpStatus: Int? = nil, method: String? = nil,
        failureClass: FailureClass? = nil
    ) {
        self.code = code
        self.errorDescription = errorDescription
        self.httpStatus = httpStatus
        self.method = method
        self.failureClass = failureClass ?? .classify(code: code, httpStatus: httpStatus)
    }

    /// What a failure means for a retry.
    public enum FailureClass: Sendable, Hashable, CustomStringConvertible {
        /// Refused before anything ran; safe to retry.
        case notExecuted
        /// `QUERY_LIMIT_EXCEEDED`: refused before running; slow the portal down and retry.
        case rateLimited
        /// `OPERATION_TIME_LIMIT`: the method's time budget is spent; retry after `resetIn`, the
        /// time from the answer's `time.finish` to its `operating_reset_at`, both on the
        /// portal's clock (so no clock of ours is compared with it), at most the 10-minute window.
        case operatingLimit(resetIn: Duration?)
        /// The access token expired; refresh it and retry (the client does this itself once).
        case tokenExpired
        /// It may have run: look the effect up, or retry only if the operation is idempotent.
        case ambiguous
        /// Retrying will not help.
        case permanent

        public var description: String {
            switch self {
            case .notExecuted: return "not executed"
            case .rateLimited: return "rate limited"
            case .operatingLimit(let resetIn?): return "operating limit for \(Int(resetIn.inSeconds.rounded(.up))) s"
            case .operatingLimit(nil): return "operating limit"
            case .tokenExpired: return "token expired"
            case .ambiguous: return "ambiguous"
            case .permanent: return "permanent"
            }
        }

        /// True when a later retry may succeed.
        public var isRetryable: Bool { self != .permanent }
    }
}

extension Bitrix24Error: CustomStringConvertible {
    public var description: String {
        var text = "Bitrix24"
        if let method { text += " \(method)" }
        text += " failed: \(code.rawValue)"
        var context = [failureClass.description]
        if let httpStatus { context.insert("HTTP \(httpStatus)", at: 0) }
        text += " (\(context.joined(separator: ", ")))"
        if let errorDescription, !errorDescription.isEmpty { text += ": \(errorDescription)" }
        return text
    }
}

extension Bitrix24Error {
    /// An error code. Bitrix24's codes are an open set and not uniformly cased (`expired_token`,
    /// `QUERY_LIMIT_EXCEEDED`), so codes compare and hash case-insensitively; `rawValue` keeps
    /// the spelling that arrived.
    public struct Code: Sendable, Hashable, RawRepresentable, ExpressibleByStringLiteral, CustomStringConvertible {
        public let rawValue: String

        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }

        public var description: String { rawValue }

        private var normalized: String { rawValue.uppercased() }

        public static func == (lhs: Code, rhs: Code) -> Bool { lhs.normalized == rhs.normalized }
        public func hash(into hasher: inout Hasher) { hasher.combine(normalized) }

        // Not executed / throttled.
        public static let queryLimitExceeded: Code = "QUERY_LIMIT_EXCEEDED"
        public static let operationTimeLimit: Code = "OPERATION_TIME_LIMIT"
        // Authorisation.
        public static let expiredToken: Code = "expired_token"
        public static let invalidToken: Code = "invalid_token"
        public static let invalidGrant: Code = "invalid_grant"
        public static let invalidClient: Code = "invalid_client"
        public static let noAuthFound: Code = "NO_AUTH_FOUND"
        public static let invalidCredentials: Code = "INVALID_CREDENTIALS"
        public static let accessDenied: Code = "ACCESS_DENIED"
        public static let insufficientScope: Code = "insufficient_scope"
        public static let wrongAuthType: Code = "WRONG_AUTH_TYPE"
        // Server side.
        public static let internalServerError: Code = "INTERNAL_SERVER_ERROR"
        public static let unexpectedAnswer: Code = "ERROR_UNEXPECTED_ANSWER"
        public static let methodNotFound: Code = "ERROR_METHOD_NOT_FOUND"
        public static let invalidRequest: Code = "INVALID_REQUEST"
        public static let core: Code = "ERROR_CORE"
        public static let portalDeleted: Code = "PORTAL_DELETED"
        public static let overloadLimit: Code = "OVERLOAD_LIMIT"
        public static let batchLengthExceeded: Code = "ERROR_BATCH_LENGTH_EXCEEDED"
        // Method validation.
        public static let userIDEmpty: Code = "USER_ID_EMPTY"
        public static let messageEmpty: Code = "MESSAGE_EMPTY"
        public static let attachError: Code = "ATTACH_ERROR"
        public static let attachOversize: Code = "ATTACH_OVERSIZE"
        public static let invalidFormat: Code = "INVALID_FORMAT"
        public static let wrongRequest: Code = "WRONG_REQUEST"
        /// The rest module's argument errors (a bad or missing parameter, filter or order).
        public static let argument: Code = "ERROR_ARGUMENT"

        // Raised by this client, never sent by Bitrix24.
        /// A notification method answered `result: false` (recipient missing or inactive).
        public static let resultFalse: Code = "RESULT_FALSE"
        /// A successful answer whose `result` has an unexpected shape.
        public static let unexpectedResult: Code = "UNEXPECTED_RESULT"
        /// The body was not a Bitrix24 envelope (an HTML page from a proxy, say).
        public static let invalidResponse: Code = "INVALID_RESPONSE"
        public static let responseTooLarge: Code = "RESPONSE_TOO_LARGE"
        /// No connection could be made; nothing was sent.
        public static let connectionFailed: Code = "CONNECTION_FAILED"
        /// The connection broke after the request was (perhaps) sent.
        public static let connectionClosed: Code = "CONNECTION_CLOSED"
        public static let timeout: Code = "TIMEOUT"
        public static let cancelled: Code = "CANCELLED"
        public static let transportError: Code = "TRANSPORT_ERROR"
        /// A second redirect after following the first one.
        public static let tooManyRedirects: Code = "TOO_MANY_REDIRECTS"
        /// The caller passed something that cannot be sent (bad method name, duplicate batch key).
        public static let invalidArgument: Code = "INVALID_ARGUMENT"
        /// The access token expired and the credentials hold nothing to refresh it with.
        public static let cannotRefresh: Code = "CANNOT_REFRESH"
        /// Not sent: the caller's deadline (a worker's lease) leaves no room for the exchange.
        public static let noTimeLeft: Code = "NO_TIME_LEFT"
    }
}
