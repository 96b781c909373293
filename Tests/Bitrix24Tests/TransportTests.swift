import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import Bitrix24

@Suite struct TransportTests {
    @Test func classifiesAsyncHTTPClientErrors() {
        func check(_ error: any Error, sent: Bool, _ code: Bitrix24Error.Code, _ failureClass: Bitrix24Error.FailureClass) {
            let classified = AsyncHTTPClientTransport.classify(error, sent: sent)
            #expect(classified.code == code, "\(error)")
            #expect(classified.failureClass == failureClass, "\(error)")
        }
        check(HTTPClientError.connectTimeout, sent: false, .connectionFailed, .notExecuted)
        check(HTTPClientError.getConnectionFromPoolTimeout, sent: false, .connectionFailed, .notExecuted)
        check(HTTPClientError.alreadyShutdown, sent: false, .connectionFailed, .notExecuted)
        check(HTTPClientError.deadlineExceeded, sent: false, .timeout, .notExecuted)
        check(HTTPClientError.deadlineExceeded, sent: true, .timeout, .ambiguous)
        check(HTTPClientError.readTimeout, sent: true, .timeout, .ambiguous)
        check(HTTPClientError.remoteConnectionClosed, sent: true, .connectionClosed, .ambiguous)
        check(HTTPClientError.cancelled, sent: true, .cancelled, .ambiguous)
        check(IOError(errnoCode: ECONNRESET, reason: "read"), sent: true, .connectionClosed, .ambiguous)
        check(IOError(errnoCode: ECONNREFUSED, reason: "connect"), sent: false, .connectionFailed, .notExecuted)
        check(ChannelError.connectTimeout(.seconds(10)), sent: false, .connectionFailed, .notExecuted)
        check(ChannelError.eof, sent: true, .connectionClosed, .ambiguous)
    }

    /// Nothing listens on port 1 of the loopback: the connection is refused, nothing was sent.
    @Test func connectionRefusedIsNotExecuted() async throws {
        var configuration = Bitrix24Client.Configuration()
        configuration.requestTimeout = .seconds(5)
        let client = Bitrix24Client(
            credentials: try .webhook("http://127.0.0.1:1/rest/1/abcd1234efgh/", allowInsecureHTTP: true),
            configuration: configuration)
        do throws(Bitrix24Error) {
            _ = try await client.call("profile")
            Issue.record("nothing should answer on port 1")
        } catch {
            #expect(error.failureClass == .notExecuted, "\(error)")
            #expect(error.code == .connectionFailed)
            #expect(!error.description.contains("abcd1234efgh"))
        }
        try await client.shutdown()
    }
}
