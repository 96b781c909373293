import Foundation

extension Bitrix24Error.FailureClass {
    /// Classifies by the code first; the HTTP status only decides for codes nobody knows.
    ///
    /// Unknown codes are permanent below 500 and ambiguous from 500 up (a server error may have
    /// run the method). Unknown codes without a status (batch commands) are permanent.
    public static func classify(code: Bitrix24Error.Code, httpStatus: Int?, operatingResetIn: Duration? = nil) -> Self {
        if let known = table[code] {
            if case .operatingLimit = known { return .operatingLimit(resetIn: operatingResetIn) }
            return known
        }
        if let httpStatus, httpStatus >= 500 { return .ambiguous }
        return .permanent
    }

    /// Every code this client knows, with what it means for a retry.
    public static let table: [Bitrix24Error.Code: Self] = [
        .queryLimitExceeded: .rateLimited,
        .operationTimeLimit: .operatingLimit(resetIn: nil),
        .expiredToken: .tokenExpired,
        .invalidToken: .tokenExpired,
        .internalServerError: .ambiguous,
        .unexpectedAnswer: .ambiguous,
        .noAuthFound: .permanent,
        .invalidCredentials: .permanent,
        .accessDenied: .permanent,
        .insufficientScope: .permanent,
        .wrongAuthType: .permanent,
        .methodNotFound: .permanent,
        .invalidRequest: .permanent,
        .core: .permanent,
        .portalDeleted: .permanent,
        // A manual block by Bitrix24 staff: hammering makes it worse.
        .overloadLimit: .permanent,
        .invalidGrant: .permanent,
        .invalidClient: .permanent,
        .batchLengthExceeded: .permanent,
        .userIDEmpty: .permanent,
        .messageEmpty: .permanent,
        .attachError: .permanent,
        .attachOversize: .permanent,
        .invalidFormat: .permanent,
        .wrongRequest: .permanent,
        .argument: .permanent,
        .resultFalse: .permanent,
        .unexpectedResult: .ambiguous,
        .responseTooLarge: .ambiguous,
        .connectionFailed: .notExecuted,
        .connectionClosed: .ambiguous,
        .timeout: .ambiguous,
        .cancelled: .ambiguous,
        .transportError: .ambiguous,
        .tooManyRedirects: .permanent,
        .invalidArgument: .permanent,
        .cannotRefresh: .permanent,
        .noTimeLeft: .notExecuted,
    ]
}

extension Bitrix24Error {
    /// The same error with every occurrence of the given secrets (and of their long fragments)
    /// replaced by `***`, then cut to `Redactor.descriptionLimit` characters.
    func scrubbed(of secrets: [String]) -> Self {
        var copy = self
        copy.errorDescription = errorDescription.map { Redactor.scrub($0, secrets: secrets, limit: Redactor.descriptionLimit) }
        return copy
    }
}
