import Foundation
import Bitrix24Simulator
import Testing

@testable import Bitrix24

@Suite struct EnvelopeTests {
    func decode(_ status: Int, _ body: String, contentType: String? = "application/json") throws(Bitrix24Error) -> Bitrix24Response {
        try Bitrix24Response.decode(method: "im.chat.add", status: status, contentType: contentType, body: Array(body.utf8))
    }

    func failure(_ status: Int, _ body: String, contentType: String? = "application/json") -> Bitrix24Error? {
        do throws(Bitrix24Error) {
            _ = try decode(status, body, contentType: contentType)
            return nil
        } catch {
            return error
        }
    }

    @Test func successWithOperatingFields() throws {
        // The seed document's im.chat.add answer.
        let response = try decode(
            200,
            """
            {"result": 988, "time": {"start": 1728454867.18514, "finish": 1728454867.47953,
             "duration": 0.294389009475708, "processing": 0.258857011795044,
             "date_start": "2024-10-09T09:21:07+03:00", "date_finish": "2024-10-09T09:21:07+03:00",
             "operating_reset_at": 1728455467, "operating": 0.258837938308716}}
            """)
        #expect(response.result == .int(988))
        #expect(response.httpStatus == 200)
        let time = try #require(response.time)
        #expect(time.start == 1728454867.18514)
        #expect(time.duration == 0.294389009475708)
        #expect(time.processing == 0.258857011795044)
        #expect(time.dateStart == "2024-10-09T09:21:07+03:00")
        #expect(time.operating == 0.258837938308716)
        #expect(time.operatingResetAt == Date(timeIntervalSince1970: 1_728_455_467))
        #expect(time.json["operating_reset_at"] == .int(1_728_455_467))
    }

    @Test func successWithoutOperatingFields() throws {
        let response = try decode(
            200,
            #"{"result":{"ID":1437},"time":{"start":1.5,"finish":2.5,"duration":1.0,"processing":0.9,"date_start":"x","date_finish":"y"}}"#)
        #expect(response.result["ID"] == .int(1437))
        let time = try #require(response.time)
        #expect(time.operating == nil)
        #expect(time.operatingResetAt == nil)
        #expect(time.finish == 2.5)
    }

    @Test func nullResultAndMissingTime() throws {
        let response = try decode(200, #"{"result":null}"#)
        #expect(response.result == .null)
        #expect(response.time == nil)
    }

    @Test func errorEnvelope() {
        let error = failure(503, #"{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}"#)
        #expect(error?.code == .queryLimitExceeded)
        #expect(error?.errorDescription == "Too many requests")
        #expect(error?.httpStatus == 503)
        #expect(error?.method == "im.chat.add")
        #expect(error?.failureClass == .rateLimited)
    }

    @Test func errorEnvelopeWinsOverStatus() {
        // A 200 that carries an error is still that error.
        #expect(failure(200, #"{"error":"ACCESS_DENIED","error_description":"no"}"#)?.failureClass == .permanent)
        #expect(failure(401, #"{"error":"EXPIRED_TOKEN","error_description":"The access token provided has expired."}"#)?.failureClass == .tokenExpired)
    }

    @Test("OPERATION_TIME_LIMIT: the pause is the reset time minus the same answer's finish, on the portal's clock")
    func operatingLimitReadsResetTimeFromTheBody() {
        let error = failure(429, #"""
            {"error":"OPERATION_TIME_LIMIT","error_description":"Method is blocked","time":{"finish":1728454867.25,"operating_reset_at":1728455467}}
            """#)
        #expect(error?.failureClass == .operatingLimit(resetIn: .milliseconds(599_750)))
        // A reset time without the portal's own "now" cannot be turned into a delay.
        let alone = failure(429, #"{"error":"OPERATION_TIME_LIMIT","time":{"operating_reset_at":1728455467}}"#)
        #expect(alone?.failureClass == .operatingLimit(resetIn: nil))
        #expect(failure(429, #"{"error":"OPERATION_TIME_LIMIT"}"#)?.failureClass == .operatingLimit(resetIn: nil))
        // Never longer than the 10-minute window, never shorter than a second.
        let far = failure(429, #"{"error":"OPERATION_TIME_LIMIT","time":{"finish":1728000000,"operating_reset_at":1728455467}}"#)
        #expect(far?.failureClass == .operatingLimit(resetIn: .seconds(600)))
        let past = failure(429, #"{"error":"OPERATION_TIME_LIMIT","time":{"finish":1728455468,"operating_reset_at":1728455467}}"#)
        #expect(past?.failureClass == .operatingLimit(resetIn: .seconds(1)))
    }

    @Test func htmlBadGatewayIsAmbiguousWithAShortExcerpt() {
        let page = """
            <html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>
            """
        let error = failure(502, page, contentType: "text/html")
        #expect(error?.code == .invalidResponse)
        #expect(error?.failureClass == .ambiguous)
        #expect(error?.httpStatus == 502)
        #expect(error?.errorDescription?.contains("502 Bad Gateway") == true)
        #expect(error?.errorDescription?.contains("<") == false)
        #expect((error?.description.count ?? 0) < 300)
    }

    @Test func nonJSONBodiesAreClassifiedByStatus() {
        #expect(failure(404, "<html><body>Not Found</body></html>", contentType: "text/html")?.failureClass == .permanent)
        #expect(failure(429, "Too Many Requests", contentType: "text/plain")?.failureClass == .rateLimited)
        #expect(failure(503, "", contentType: nil)?.failureClass == .ambiguous)
        #expect(failure(200, "", contentType: nil)?.failureClass == .ambiguous)
        #expect(failure(200, #"{"foo":1}"#)?.code == .invalidResponse)
        #expect(failure(500, #"["not","an","envelope"]"#)?.failureClass == .ambiguous)
    }

    @Test func garbageNeverCrashesAndStaysShort() throws {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 0..<3000, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            do throws(Bitrix24Error) {
                _ = try Bitrix24Response.decode(method: "m", status: 502, body: bytes)
            } catch {
                #expect(error.failureClass == .ambiguous)
                #expect((error.errorDescription?.count ?? 0) < 260)
            }
        }
    }

    @Test func excerptTakesTheTitleOrTheTextWithoutTags() {
        #expect(Redactor.excerpt(of: Array("<html><title>Oops</title><body>long</body></html>".utf8)) == "Oops")
        #expect(Redactor.excerpt(of: Array("<p>Service\n\n  unavailable</p>".utf8)) == "Service unavailable")
        let long = String(repeating: "a", count: 500)
        #expect(Redactor.excerpt(of: Array(long.utf8)).count == 161, "cut to 160 and an ellipsis")
    }
}
