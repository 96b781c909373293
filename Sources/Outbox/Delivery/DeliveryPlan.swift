import Bitrix24
import Bitrix24Wire
import Foundation

/// Turns claimed intents into Bitrix24 commands and Bitrix24's answers into outcomes. Pure: the
/// worker does the I/O.
///
/// Idempotency: every notification carries a TAG (set at enqueue), so a resend replaces
/// instead of duplicating. Every attempt at a chat, the first included (another process, a
/// replay or the portal's own users may have made it), first looks its ENTITY_TYPE/ENTITY_ID
/// up with `im.chat.get`, and creates it only when the portal answered a well-formed "none".
/// A creation whose answer was lost is not looked up again before the portal has surely
/// finished it (`portalExecutionLimit`).
enum DeliveryPlan {
    /// What to send first for each intent.
    static func firstCommands(for intents: [ClaimedIntent]) -> [BatchCommand] {
        intents.map { intent in
            intent.kind == .chatCreate ? lookupCommand(for: intent) : sendCommand(for: intent)
        }
    }

    static func key(for intent: ClaimedIntent) -> String { "i\(intent.id)" }

    static func sendCommand(for intent: ClaimedIntent) -> BatchCommand {
        BatchCommand(
            key: key(for: intent), method: intent.kind.method, params: intent.payload,
            resultFalseIsFailure: intent.kind != .chatCreate)
    }

    static func lookupCommand(for intent: ClaimedIntent) -> BatchCommand {
        BatchCommand(
            key: key(for: intent), method: "im.chat.get",
            params: ["ENTITY_TYPE": intent.payload["ENTITY_TYPE"] ?? .null, "ENTITY_ID": intent.payload["ENTITY_ID"] ?? .null])
    }

    /// Facts about the HTTP exchange, recorded with every outcome.
    struct Exchange {
        var httpStatus: Int?
        var elapsed: Duration
        var batchSize: Int
    }

    /// What one answer means for its intent.
    enum Step: Equatable {
        case finished(DeliveryOutcome)
        /// The lookup found no chat: create it now.
        case createChat
    }

    /// What the portal's limiter must learn from an answer.
    enum PortalSignal: Equatable {
        case rateLimited
        case methodPaused(method: String, for: Duration)
    }

    /// Until an operating-limit pause ends when the answer does not say.
    static let defaultOperatingPause: Duration = .seconds(60)

    static func step(
        for intent: ClaimedIntent, command: BatchCommand, outcome: BatchOutcome, exchange: Exchange, retry: RetryPolicy,
        portalExecutionLimit: Duration = WorkerPool.Configuration().portalExecutionLimit
    ) -> (step: Step, signal: PortalSignal?) {
        // A creation that may have run and may still be running at the portal waits that out.
        let settle = command.method == IntentKind.chatCreate.method ? portalExecutionLimit : .zero
        // Room for what the outcome adds, and for the worker and attempt the record adds.
        var details = [String: JSONValue](minimumCapacity: 12)
        details["method"] = .string(command.method)
        details["duration_ms"] = .double((exchange.elapsed.inSeconds * 1000 * 1000).rounded() / 1000)
        details["batch_size"] = .int(Int64(exchange.batchSize))
        details["http_status"] = exchange.httpStatus.map { .int(Int64($0)) }
        switch outcome {
        case .success(let result, let time):
            details["result"] = result
            details["time"] = time?.json
            if command.method == "im.chat.get" {
                let chatID: Int64?
                do {
                    chatID = try Bitrix24Client.chatID(inChatGetResult: result)
                } catch {
                    // Not a well-formed "none": creating now could make a second chat.
                    details["error"] = .string(error.code.rawValue)
                    details["error_description"] = error.errorDescription.map(JSONValue.string)
                    details["class"] = "ambiguous"
                    return (retryOrDead(intent: intent, details: details, retry: retry, atLeast: .zero), nil)
                }
                guard let chatID else { return (.createChat, nil) }
                details["found_existing_chat"] = true
                return (.finished(.delivered(resultID: chatID, details: .object(details))), nil)
            }
            return (.finished(.delivered(resultID: result.intValue, details: .object(details))), nil)

        case .failure(let error):
            details["error"] = .string(error.code.rawValue)
            details["error_description"] = error.errorDescription.map(JSONValue.string)
            details["class"] = .string(error.failureClass.description)
            details["http_status"] = error.httpStatus.map { .int(Int64($0)) } ?? details["http_status"]
            return failureStep(intent: intent, error: error, details: details, retry: retry, settle: settle)

        case .notExecuted:
            // We never halt batches, so a missing answer means the batch was cut short: it may
            // or may not have run. Retrying is safe because delivery is idempotent.
            details["error"] = "NO_ANSWER"
            details["class"] = "ambiguous"
            return (retryOrDead(intent: intent, details: details, retry: retry, atLeast: settle), nil)
        }
    }

    private static func failureStep(
        intent: ClaimedIntent, error: Bitrix24Error, details: [String: JSONValue], retry: RetryPolicy, settle: Duration
    ) -> (step: Step, signal: PortalSignal?) {
        switch error.failureClass {
        case .permanent:
            return (.finished(.dead(details: .object(details))), nil)
        case .rateLimited:
            // Refused before running: not the intent's fault, so no attempt is spent.
            return (.finished(.released(after: .seconds(1), reason: error.code.rawValue)), .rateLimited)
        case .operatingLimit(let resetIn):
            let pause = resetIn ?? defaultOperatingPause
            return (.finished(.released(after: pause, reason: error.code.rawValue)),
                    .methodPaused(method: error.method ?? intent.kind.method, for: pause))
        case .ambiguous:
            return (retryOrDead(intent: intent, details: details, retry: retry, atLeast: settle), nil)
        case .notExecuted where error.code == .noTimeLeft:
            // Not sent for want of lease time: nothing about the intent, so no attempt is spent.
            return (.finished(.released(after: .seconds(1), reason: error.code.rawValue)), nil)
        case .notExecuted where error.method == Bitrix24Client.tokenRefreshMethod:
            // Not sent for want of a token the portal-wide refresh could not bring yet (its
            // turn backs off up to a minute): no attempt is spent.
            return (.finished(.released(after: .seconds(5), reason: error.code.rawValue)), nil)
        case .notExecuted, .tokenExpired:
            return (retryOrDead(intent: intent, details: details, retry: retry, atLeast: .zero), nil)
        }
    }

    /// The retry policy's backoff, but no sooner than `atLeast`.
    private static func retryOrDead(
        intent: ClaimedIntent, details: [String: JSONValue], retry: RetryPolicy, atLeast: Duration
    ) -> Step {
        guard let delay = retry.delay(after: intent.attempt) else {
            var final = details
            final["gave_up_after_attempts"] = .int(Int64(intent.attempt))
            return .finished(.dead(details: .object(final)))
        }
        return .finished(.retry(after: max(delay, atLeast), details: .object(details)))
    }
}
