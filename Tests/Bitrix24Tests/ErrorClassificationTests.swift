import Foundation
import Testing

@testable import Bitrix24

@Suite struct ErrorClassificationTests {
    typealias Class = Bitrix24Error.FailureClass

    /// Every code in bitrix24-facts.md, with the status Bitrix24 sends it with.
    static let table: [(String, Int, Class)] = [
        ("QUERY_LIMIT_EXCEEDED", 503, .rateLimited),
        ("OPERATION_TIME_LIMIT", 429, .operatingLimit(resetIn: nil)),
        ("expired_token", 401, .tokenExpired),
        ("invalid_token", 401, .tokenExpired),
        ("INTERNAL_SERVER_ERROR", 500, .ambiguous),
        ("ERROR_UNEXPECTED_ANSWER", 500, .ambiguous),
        ("NO_AUTH_FOUND", 401, .permanent),
        ("INVALID_CREDENTIALS", 401, .permanent),
        ("ACCESS_DENIED", 403, .permanent),
        ("insufficient_scope", 403, .permanent),
        ("WRONG_AUTH_TYPE", 403, .permanent),
        ("ERROR_METHOD_NOT_FOUND", 404, .permanent),
        ("INVALID_REQUEST", 400, .permanent),
        ("ERROR_CORE", 500, .permanent),
        ("PORTAL_DELETED", 404, .permanent),
        ("OVERLOAD_LIMIT", 503, .permanent),
        ("invalid_grant", 400, .permanent),
        ("USER_ID_EMPTY", 400, .permanent),
        ("MESSAGE_EMPTY", 400, .permanent),
        ("ATTACH_ERROR", 400, .permanent),
        ("ATTACH_OVERSIZE", 400, .permanent),
        ("INVALID_FORMAT", 400, .permanent),
        ("WRONG_REQUEST", 400, .permanent),
        ("ERROR_BATCH_LENGTH_EXCEEDED", 400, .permanent),
    ]

    @Test(arguments: table)
    func classifiesByCodeInAnyCase(code: String, status: Int, expected: Class) {
        for spelling in [code, code.uppercased(), code.lowercased()] {
            #expect(Class.classify(code: .init(spelling), httpStatus: status) == expected, "\(spelling)")
            // The code decides, whatever the status says.
            #expect(Class.classify(code: .init(spelling), httpStatus: 200) == expected, "\(spelling) with 200")
            #expect(Class.classify(code: .init(spelling), httpStatus: nil) == expected, "\(spelling) without a status")
        }
    }

    @Test func codesCompareAndHashCaseInsensitively() {
        #expect(Bitrix24Error.Code("EXPIRED_TOKEN") == .expiredToken)
        #expect(Bitrix24Error.Code("expired_token") == .expiredToken)
        #expect(Bitrix24Error.Code("Query_Limit_Exceeded") == .queryLimitExceeded)
        #expect(Set<Bitrix24Error.Code>(["expired_token", "EXPIRED_TOKEN"]).count == 1)
        #expect(Bitrix24Error.Code("EXPIRED_TOKEN").rawValue == "EXPIRED_TOKEN")
        #expect(Bitrix24Error.Code("USER_ID_EMPTY") != .messageEmpty)
    }

    @Test func unknownCodesFollowTheStatus() {
        #expect(Class.classify(code: "SOMETHING_NEW", httpStatus: 400) == .permanent)
        #expect(Class.classify(code: "SOMETHING_NEW", httpStatus: 404) == .permanent)
        #expect(Class.classify(code: "SOMETHING_NEW", httpStatus: 500) == .ambiguous)
        #expect(Class.classify(code: "SOMETHING_NEW", httpStatus: 503) == .ambiguous)
        #expect(Class.classify(code: "SOMETHING_NEW", httpStatus: nil) == .permanent)
    }

    @Test func operatingLimitCarriesTheResetTime() {
        #expect(Class.classify(code: "OPERATION_TIME_LIMIT", httpStatus: 429, operatingResetIn: .seconds(300))
                == .operatingLimit(resetIn: .seconds(300)))
    }

    @Test func descriptionNamesCodeClassStatusAndMethod() {
        let error = Bitrix24Error(code: "QUERY_LIMIT_EXCEEDED", errorDescription: "Too many requests", httpStatus: 503, method: "batch")
        #expect(error.description == "Bitrix24 batch failed: QUERY_LIMIT_EXCEEDED (HTTP 503, rate limited): Too many requests")
        #expect(error.failureClass.isRetryable)
        #expect(!Bitrix24Error(code: .accessDenied, httpStatus: 403).failureClass.isRetryable)
    }

    @Test func transportFailuresBeforeSendingAreNotExecuted() {
        let refused = IOErrorStub()
        #expect(AsyncHTTPClientTransport.classify(refused, sent: false).failureClass == .notExecuted)
        #expect(AsyncHTTPClientTransport.classify(refused, sent: false).code == .connectionFailed)
        #expect(AsyncHTTPClientTransport.classify(refused, sent: true).failureClass == .ambiguous)
        #expect(AsyncHTTPClientTransport.classify(CancellationError(), sent: false).failureClass == .notExecuted)
        #expect(AsyncHTTPClientTransport.classify(CancellationError(), sent: true) .code == .cancelled)
    }

    struct IOErrorStub: Error {}
}
