import Foundation
import Logging
import NIOHTTP1

extension Bitrix24Client {
    /// Builds the JSON body for the given access token (nil for a webhook) and sends it; a token
    /// that has run out is refreshed first, and on an expired-token answer the token is
    /// refreshed (single-flight) and the call sent once more with the new one.
    func perform(
        method: String, deadline: ContinuousClock.Instant? = nil, body: @Sendable (_ accessToken: String?) -> [UInt8]
    ) async throws(Bitrix24Error) -> Bitrix24Response {
        guard isValidMethodName(method) else {
            // Not echoed: a mistaken "method" could be a whole webhook URL.
            throw Bitrix24Error(
                code: .invalidArgument, errorDescription: "a method name has only letters, digits, '.' and '_'")
        }
        let credentials: Bitrix24Credentials
        do throws(Bitrix24Error) {
            credentials = try await store.forCall(deadline: deadline)
        } catch {
            throw Self.notSent(refreshFailure: error, call: nil)
        }
        do throws(Bitrix24Error) {
            return try await attempt(method: method, credentials: credentials, deadline: deadline, body: body)
        } catch where error.failureClass == .tokenExpired {
            guard credentials.oauthSecrets != nil else {
                throw Self.unrecoverable(error, because: "a webhook cannot refresh its token")
            }
            let renewed: Bitrix24Credentials
            do throws(Bitrix24Error) {
                renewed = try await store.refreshed(replacing: credentials.accessToken, deadline: deadline)
            } catch let refreshError {
                throw Self.notSent(refreshFailure: refreshError, call: error)
            }
            do throws(Bitrix24Error) {
                return try await attempt(method: method, credentials: renewed, deadline: deadline, body: body)
            } catch where error.failureClass == .tokenExpired {
                // Rejected again right after a refresh: another refresh would loop.
                throw Self.unrecoverable(error, because: "the token was rejected again after a refresh")
            }
        }
    }

    /// What a call fails with when the token it needed could not be refreshed: the call did not
    /// run (it was not sent, or refused with the old token), so only a permanent refresh failure
    /// (`invalid_grant`) makes it permanent. `call` is the call's own expired-token refusal.
    private static func notSent(refreshFailure: Bitrix24Error, call: Bitrix24Error?) -> Bitrix24Error {
        if refreshFailure.code == .cannotRefresh, let call {
            return unrecoverable(call, because: refreshFailure.errorDescription ?? "it cannot be refreshed")
        }
        var failure = refreshFailure
        if failure.failureClass != .permanent { failure.failureClass = .notExecuted }
        return failure
    }

    private static func unrecoverable(_ error: Bitrix24Error, because reason: String) -> Bitrix24Error {
        var error = error
        error.failureClass = .permanent
        error.errorDescription = [error.errorDescription, reason].compactMap { $0 }.joined(separator: "; ")
        return error
    }

    /// One POST, plus one re-POST if the portal answers with a redirect.
    private func attempt(
        method: String, credentials: Bitrix24Credentials, deadline: ContinuousClock.Instant?,
        body: (_ accessToken: String?) -> [UInt8]
    ) async throws(Bitrix24Error) -> Bitrix24Response {
        let started = ContinuousClock.now
        var metadata: Logger.Metadata = ["b24.method": "\(method)", "b24.portal": "\(credentials.portal.host ?? "")"]
        do throws(Bitrix24Error) {
            var request = HTTPRequestData(
                method: .POST, url: Self.endpoint(method, credentials), headers: jsonHeaders,
                body: body(credentials.accessToken))
            try requireTime(before: deadline, method: method)
            var response = try await transport.send(request, timeout: configuration.requestTimeout)
            var movedTo: URL?
            if Self.isRedirect(response.status) {
                let origin = try Self.redirectOrigin(response, credentials: credentials, method: method)
                request.url = Self.endpoint(method, credentials.movingPortal(to: origin))
                try requireTime(before: deadline, method: method)
                response = try await transport.send(request, timeout: configuration.requestTimeout)
                guard !Self.isRedirect(response.status) else {
                    throw Bitrix24Error(
                        code: .tooManyRedirects, errorDescription: "the new portal address redirected again",
                        httpStatus: response.status, method: method)
                }
                movedTo = origin
                await portalMoved(from: credentials.portal, to: origin)
            }
            var result = try Bitrix24Response.decode(
                method: method, status: response.status, contentType: response.headers.first(name: "Content-Type"),
                body: response.body, secrets: credentials.secrets)
            result.elapsed = started.duration(to: .now)
            result.portalMovedTo = movedTo
            metadata["b24.status"] = "\(response.status)"
            metadata["b24.duration_ms"] = "\(Int(result.elapsed.milliseconds))"
            logger.debug("bitrix24 call", metadata: metadata)
            return result
        } catch {
            var failure = error.scrubbed(of: credentials.secrets)
            if failure.method == nil { failure.method = method }
            metadata["b24.status"] = failure.httpStatus.map { "\($0)" } ?? "-"
            metadata["b24.duration_ms"] = "\(Int(started.duration(to: .now).milliseconds))"
            metadata["b24.code"] = "\(failure.code)"
            metadata["b24.class"] = "\(failure.failureClass)"
            logger.log(level: failure.failureClass == .permanent ? .warning : .info, "bitrix24 call failed", metadata: metadata)
            throw failure
        }
    }

    /// Refuses to start an exchange that could end after `deadline`.
    private func requireTime(before deadline: ContinuousClock.Instant?, method: String) throws(Bitrix24Error) {
        guard let deadline, ContinuousClock.now + configuration.requestTimeout > deadline else { return }
        throw Bitrix24Error(
            code: .noTimeLeft, errorDescription: "no time is left for the request before the caller's deadline",
            method: method, failureClass: .notExecuted)
    }

    private func portalMoved(from oldOrigin: URL, to newOrigin: URL) async {
        guard await store.movePortal(from: oldOrigin, to: newOrigin) else { return }
        logger.notice(
            "bitrix24 portal moved",
            metadata: ["b24.portal": "\(oldOrigin.host ?? "")", "b24.new_portal": "\(newOrigin.absoluteString)"])
        await onPortalMoved?(newOrigin)
    }

    private var jsonHeaders: HTTPHeaders {
        [
            "Content-Type": "application/json; charset=utf-8", "Accept": "application/json",
            "User-Agent": configuration.userAgent,
        ]
    }

    /// Webhook: `PORTAL/rest/USER_ID/CODE/METHOD`; OAuth: `PORTAL/rest/METHOD` (token in the body).
    static func endpoint(_ method: String, _ credentials: Bitrix24Credentials) -> URL {
        switch credentials.storage {
        case .webhook(let userID, let code):
            return credentials.portal.appendingPathComponent("rest/\(userID)/\(code)/\(method)")
        case .oauth:
            return credentials.portal.appendingPathComponent("rest/\(method)")
        }
    }

    private static func isRedirect(_ status: Int) -> Bool { [301, 302, 303, 307, 308].contains(status) }

    /// The new portal origin named by `Location`. Plain http is accepted only when the
    /// credentials allow it, so a redirect cannot downgrade a secure portal.
    private static func redirectOrigin(
        _ response: HTTPResponseData, credentials: Bitrix24Credentials, method: String
    ) throws(Bitrix24Error) -> URL {
        let current = endpoint(method, credentials)
        guard let location = response.headers.first(name: "Location"),
            let target = URL(string: location, relativeTo: current)?.absoluteURL,
            let origin = try? Bitrix24Credentials.origin(of: target, allowInsecureHTTP: credentials.allowsInsecureHTTP),
            origin != credentials.portal
        else {
            throw Bitrix24Error(
                code: .invalidResponse,
                errorDescription: "a redirect without a usable new portal address in Location",
                httpStatus: response.status, method: method, failureClass: .permanent)
        }
        return origin
    }
}
