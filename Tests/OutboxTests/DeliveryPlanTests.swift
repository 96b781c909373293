import Bitrix24
import Foundation
import Testing

@testable import Outbox

/// How each Bitrix24 answer becomes an intent's outcome (no I/O).
struct DeliveryPlanTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let exchange = DeliveryPlan.Exchange(httpStatus: 200, elapsed: .milliseconds(12), batchSize: 3, now: now)

    func intent(_ kind: IntentKind, attempt: Int = 1) -> ClaimedIntent {
        ClaimedIntent(
            id: 7, portalID: 1, kind: kind,
            payload: kind == .chatCreate ? ["TITLE": "t", "ENTITY_TYPE": "B24OUTBOX", "ENTITY_ID": "deal-7"]
                : ["USER_ID": 10, "MESSAGE": "hi", "TAG": "b24o:x"],
            key: "deal-7", attempt: attempt, leaseExpiresAt: Self.now.addingTimeInterval(60), enqueuedAt: Self.now)
    }

    func step(_ intent: ClaimedIntent, _ outcome: BatchOutcome, retry: RetryPolicy = RetryPolicy(maxAttempts: 3))
        -> (step: DeliveryPlan.Step, signal: DeliveryPlan.PortalSignal?)
    {
        let command = DeliveryPlan.firstCommands(for: [intent])[0]
        return DeliveryPlan.step(for: intent, command: command, outcome: outcome, exchange: Self.exchange, retry: retry)
    }

    @Test func aChatIsLookedUpBeforeAnyRecreation() {
        #expect(DeliveryPlan.firstCommands(for: [intent(.chatCreate, attempt: 1)])[0].method == "im.chat.add")
        let retry = DeliveryPlan.firstCommands(for: [intent(.chatCreate, attempt: 2)])[0]
        #expect(retry.method == "im.chat.get")
        #expect(retry.params == ["ENTITY_TYPE": "B24OUTBOX", "ENTITY_ID": "deal-7"])
        // Found: delivered with the existing id. Not found: create it now.
        guard case .finished(.delivered(let id, _)) = step(intent(.chatCreate, attempt: 2), .success(["ID": 1437], nil)).step
        else { Issue.record("a found chat is delivered"); return }
        #expect(id == 1437)
        #expect(step(intent(.chatCreate, attempt: 2), .success(.null, nil)).step == .createChat)
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

        let reset = Self.now.addingTimeInterval(300)
        let operating = step(intent(.notifyPersonal), .failure(Bitrix24Error(
            code: "OPERATION_TIME_LIMIT", httpStatus: 429, method: "im.notify.personal.add",
            failureClass: .operatingLimit(resetAt: reset))))
        #expect(operating.signal == .methodPaused(method: "im.notify.personal.add", until: reset))
        #expect(operating.step == .finished(.released(at: reset, reason: "OPERATION_TIME_LIMIT")))

        guard case .finished(.retry(let at, _)) = step(intent(.notifyPersonal), .failure(Bitrix24Error(code: "INTERNAL_SERVER_ERROR", httpStatus: 500))).step,
              at >= Self.now
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
