import Bitrix24Wire

/// An error the portal answers with: `{"error": code, "error_description": description}`
/// and an HTTP status. Codes and texts are the ones real portals send.
struct PortalError: Error, Sendable, Equatable {
    var status: Int
    var code: String
    var description: String

    init(_ status: Int, _ code: String, _ description: String) {
        self.status = status
        self.code = code
        self.description = description
    }

    var body: JSONValue { ["error": .string(code), "error_description": .string(description)] }

    // Authentication.
    static let invalidCredentials = PortalError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
    static let noAuthFound = PortalError(401, "NO_AUTH_FOUND", "Wrong authorization data")
    static let expiredToken = PortalError(401, "expired_token", "The access token provided has expired.")
    static let invalidToken = PortalError(401, "invalid_token", "The access token provided is invalid.")
    /// A method only an OAuth application may call, called through a webhook.
    static let wrongAuthType = PortalError(
        403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")

    // Platform.
    static let methodNotFound = PortalError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    static let queryLimitExceeded = PortalError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
    static let operationTimeLimit = PortalError(
        429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
    static let internalServerError = PortalError(500, "INTERNAL_SERVER_ERROR", "Internal server error")
    static let batchLengthExceeded = PortalError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    static let batchMethodNotAllowed = PortalError(
        405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
    static let malformedBody = PortalError(400, "INVALID_REQUEST", "Request body could not be parsed")
    /// The rest module's ArgumentException family (bad or missing parameter, filter or order).
    static func argument(_ why: String) -> PortalError { PortalError(400, "ERROR_ARGUMENT", why) }

    // im.notify.*
    static let userIDEmpty = PortalError(400, "USER_ID_EMPTY", "Recipient identifier is not specified")
    static let messageEmpty = PortalError(400, "MESSAGE_EMPTY", "Message text is not provided")
    static func attachError(_ why: String) -> PortalError {
        PortalError(400, "ATTACH_ERROR", "Incorrect attach params: \(why)")
    }
    static let attachOversize = PortalError(
        400, "ATTACH_OVERSIZE", "You have exceeded the maximum allowable size of attach")
    static let paramsError = PortalError(400, "PARAMS_ERROR", "Incorrect params")
    static let clientIDNotSpecified = PortalError(403, "ACCESS_DENIED", "Access denied! Client ID not specified")

    // im.chat.add
    static let usersFormat = PortalError(400, "INVALID_FORMAT", "A wrong format for the USERS field is passed")
    static func wrongRequest(_ why: String) -> PortalError { PortalError(400, "WRONG_REQUEST", why) }
}
