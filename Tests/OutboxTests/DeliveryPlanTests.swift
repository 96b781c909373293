import Bitrix24
import Bitrix24Wire
import Foundation
import Testing

@testable import Outbox

/// How each Bitrix24 answer becomes an intent's outcome (no I/O).
struct DeliveryPlanTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let exchange = DeliveryPlan.Exchange(httpStatus: 200, elapsed: .milliseconds(12), batchSize: 3)

    func intent(_ kind: IntentKind, attempt: Int = 1) -> ClaimedIntent {
        ClaimedIntent(
            id: 7, portalID: 1, kind: kind,
            payload: kind == .chatCreate ? ["TITLE": "t", "ENTITY_TYPE": "B24OUTBOX", "ENTITY_ID": "deal-7"]
                : ["USER_ID": 10, "MESSAGE": "hi", "TAG": "b24o:x"],
            key: "deal-7", attempt: attempt, leaseExpiresAt: Self.now.addingTimeInterval(60), enqueuedAt: Self.now)
    }

    func step(
        _ intent: ClaimedIntent, _ outcome: BatchOutcome, retry: RetryPolicy = RetryPolicy(maxAttempts: 3),
        command: BatchCommand? = nil
    ) -> (step: DeliveryPlan.Step, signal: DeliveryPlan.PortalSignal?) {
        let command = command ?? DeliveryPlan.firstCommands(for: [intent])[0]
        return DeliveryPlan.step(
            for: intent, command: command, outcome: outcome, exchange: Self.exchange, retry: retry,
            portalExecutionLimit: .seconds(60))
    }

    @Test("every attempt at a chat, the first and a replay's included, looks it up before creating it")
    func aChatIsLookedUpBeforeAnyCreation() {
        for attempt in [1, 2] {
            let first = DeliveryPlan.firstCommands(for: [intent(.chatCreate, attempt: attempt)])[0]
            #expect(first.method == "im.chat.get")
            #expect(first.params == ["ENTITY_TYPE": "B24OUTBOX", "ENTITY_ID": "deal-7"])
        }
        // Found: delivered with the existing id. Not found: create it now.
        guard case .finished(.delivered(let id, _)) = step(intent(.chatCreate), .success(["ID": 1437], nil)).step
        else { Issue.record("a found chat is delivered"); return }
        #expect(id == 1437)
        #expect(step(intent(.chatCreate), .success(.null, nil)).step == .createChat)
    }

    @Test("a lookup answer that is not a well-formed \"none\" or chat is an ambiguous failure, never a creation")
    func anUnreadableLookupIsRetried() {
        for answer: JSONValue in [["ID": "abc"], ["ID": 0], ["NAME": "x"], "1437", [1437], true, ["ID": -3]] {
            let result = step(intent(.chatCreate), .success(answer, nil))
            guard case .finished(.retry(_, let details)) = result.step else {
                Issue.record("\(answer) must be retried, got \(result.step)"); continue
            }
            #expect(details["class"] == "ambiguous")
            #expect(details["error"] == "UNEXPECTED_RESULT")
        }
    }

    @Test("a creation whose answer was lost waits out the portal's execution limit before its next lookup")
    func aLostCreationWaitsForThePortal() {
        let create = DeliveryPlan.sendCommand(for: intent(.chatCreate))
        let ambiguous = BatchOutcome.failure(Bitrix24Error(code: "TRANSPORT_ERROR", failureClass: .ambiguous))
        guard case .finished(.retry(let after, _)) = step(intent(.chatCreate), ambiguous, command: create).step else {
            Issue.record("retry expected"); return
        }
        #expect(after >= .seconds(60))
        guard case .finished(.retry(let after, _)) = step(intent(.chatCreate), .notExecuted, command: create).step else {
            Issue.record("retry expected"); return
        }
        #expect(after >= .seconds(60))
        // A lookup that failed created nothing: the usual backoff (at most 2 s after attempt 1).
        guard case .finished(.retry(let after, _)) = step(intent(.chatCreate), ambiguous).step else {
            Issue.record("retry expected"); return
        }
        #expect(after <= .seconds(2))
    }

    @Test func successRecordsTheResultID() {
        guard case .finished(.delivered(let id, let details)) = step(intent(.notifyPersonal), .success(17766, nil)).step
        else { Issue.record("delivered expected"); return }
        #expect(id == 17766)
        #expect(details["method"] == "im.notify.personal.add")
        #expect(details["http_status"] == 200)
    }

    @Test func failureClassesMapToOutcomes() {
        let permanent = Bitrix24Error(code: "ACCESS_DENIED", httpStatus: 403, method: "im.notify.personal.add")
        guard case .finished(.dead(let details)) = step(intent(.notifyPersonal), .failure(permanent)).step else {
            Issue.record("permanent → dead"); return
        }
        #expect(details["error"] == "ACCESS_DENIED")

        let limited = step(intent(.notifyPersonal), .failure(Bitrix24Error(code: "QUERY_LIMIT_EXCEEDED", httpStatus: 503)))
        #expect(limited.signal == .rateLimited)
        guard case .finished(.released) = limited.step else { Issue.record("rate limited → released"); return }

        let operating = step(intent(.notifyPersonal), .failure(Bitrix24Error(
            code: "OPERATION_TIME_LIMIT", httpStatus: 429, method: "im.notify.personal.add",
            failureClass: .operatingLimit(resetIn: .seconds(300)))))
        #expect(operating.signal == .methodPaused(method: "im.notify.personal.add", for: .seconds(300)))
        #expect(operating.step == .finished(.released(after: .seconds(300), reason: "OPERATION_TIME_LIMIT")))

        guard case .finished(.retry(let after, _)) = step(intent(.notifyPersonal), .failure(Bitrix24Error(code: "INTERNAL_SERVER_ERROR", httpStatus: 500))).step,
              after >= .zero, after <= .seconds(1)
        else { Issue.record("ambiguous → retry"); return }
        guard case .finished(.retry) = step(intent(.notifyPersonal), .notExecuted).step else {
            Issue.record("a missing answer is retried"); return
        }
    }

    @Test func theLastAttemptGoesDead() {
        let error = BatchOutcome.failure(Bitrix24Error(code: "INTERNAL_SERVER_ERROR", httpStatus: 500))
        guard case .finished(.dead(let details)) = step(intent(.notifyPersonal, attempt: 3), error).step else {
            Issue.record("out of attempts → dead"); return
        }
        #expect(details["gave_up_after_attempts"] == 3)
    }
}
