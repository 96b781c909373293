import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Outbox
import Postgres

/// The demo's later stages: events, the audit trail, dead intents, a replay, and the checks.
extension Demo {
    /// What the demo reads from the log of its portal.
    private func entries(_ services: DemoServices, type: String? = nil, intent: Int64? = nil) async throws -> [AuditLog.Entry] {
        var filter = AuditLog.Filter()
        filter.portal = services.portal.name
        filter.type = type
        filter.intentID = intent
        filter.limit = 10_000
        return try await services.database.run { [filter] db in try AuditLog.entries(filter, on: db) }
    }

    /// The portal posts a dialog-finish event for every chat, and one forged event is refused.
    func fireEvents(_ services: DemoServices, chats: [Simulator.Chat]) async throws {
        var answers: [Int: Int] = [:]
        for (index, chat) in chats.enumerated() {
            let status = try await services.simulator.sendDialogFinish(
                to: services.eventsURL, chatID: chat.id, sessionID: 3282 + Int64(index))
            answers[status, default: 0] += 1
        }
        var forged = await services.simulator.dialogFinishEvent(chatID: chats.first?.id ?? 1, sessionID: 9999)
        forged.auth.applicationToken = String(OutgoingDialogFinish.randomToken().prefix(32))
        let forgedStatus = try await EventSender().send(forged, to: services.eventsURL)
        let stored = try await entries(services, type: LogType.bitrixEvent).count
        let linked = try await entries(services, type: LogType.chatDialogFinished).count
        let summary = answers.sorted { $0.key < $1.key }.map { "\($0.value) × HTTP \($0.key)" }.joined(separator: ", ")
        report.say("""
            The portal posted ONIMCONNECTORDIALOGFINISH for each of the \(chats.count) chats (form-encoded, as \
            Bitrix24 does): \(summary.isEmpty ? "none" : summary).
            serve stored \(stored) bitrix.event entries (tokens stripped) and linked \(linked) of them to the chat \
            intents that created those chats (chat.dialog_finished).
            A forged event with a wrong application_token: HTTP \(forgedStatus), nothing stored.
            """)
        guard answers[200] == chats.count, stored == chats.count, forgedStatus == 401 else {
            throw DemoError("the event handler did not store exactly the \(chats.count) genuine events")
        }
    }

    /// The timeline of an intent that failed at least once and was then delivered: a chat whose
    /// lost answer the lookup found when there is one, else the one that failed most often.
    func showRetriedIntent(_ services: DemoServices, stage: Int) async throws {
        var failures: [Int64: Int] = [:]
        for entry in try await entries(services, type: LogType.deliveryFailed) { failures[entry.intentID ?? 0, default: 0] += 1 }
        let delivered = try await entries(services, type: LogType.deliverySucceeded).filter { failures[$0.intentID ?? 0] != nil }
        let found = delivered.first { $0.data["found_existing_chat"]?.boolValue == true }
        report.stage(stage, "An intent that needed retries")
        guard let pick = found ?? delivered.max(by: { failures[$0.intentID ?? 0]! < failures[$1.intentID ?? 0]! }),
              let id = pick.intentID else {
            return report.say("No intent needed a retry this time (faults are random; --fault-rate raises them).")
        }
        report.say("\(failures.count) intents failed at least once and were retried. The audit timeline of intent \(id) (b24outbox log --intent \(id)):")
        report.timeline(try await entries(services, intent: id))
        report.say(found != nil
            ? "An attempt created the chat but its answer was lost; the retry looked it up (im.chat.get by ENTITY_TYPE/ENTITY_ID) and found it instead of creating a second one."
            : "Every attempt carries the same TAG: had a failed attempt reached the portal, the retry replaces that notification instead of adding a second one.")
    }

    /// Lists the dead intents with the code Bitrix24 answered; returns (intent, user) of each.
    func showDeadIntents(_ services: DemoServices, stage: Int) async throws -> [(intent: Int64, user: Int64?, error: String)] {
        report.stage(stage, "Dead intents (b24outbox log --type intent.dead)")
        var dead: [(intent: Int64, user: Int64?, error: String)] = []
        for entry in try await entries(services, type: LogType.intentDead).sorted(by: { ($0.intentID ?? 0) < ($1.intentID ?? 0) }) {
            guard let id = entry.intentID else { continue }
            let enqueued = try await entries(services, type: LogType.intentEnqueued, intent: id).first
            let user = enqueued?.data["payload"]?["USER_ID"]?.intValue
            let error = entry.data["error"]?.stringValue ?? "?"
            dead.append((id, user, error))
            report.say("intent \(id)\(user.map { " to user \($0)" } ?? ""): \(error): \(entry.data["error_description"]?.stringValue ?? "")")
        }
        if dead.isEmpty { report.say("none") }
        return dead
    }

    /// Fixes the cause of one dead intent (its recipient gets an account) and replays it.
    func replay(_ dead: [(intent: Int64, user: Int64?, error: String)], _ services: DemoServices, stage: Int) async throws {
        report.stage(stage, "Fix the cause, then replay")
        guard let target = dead.first(where: { $0.error.uppercased() == "RESULT_FALSE" && $0.user != nil }), let user = target.user else {
            return report.say("No intent died of a missing recipient, so there is nothing to fix and replay.")
        }
        await services.simulator.setUser(user, active: true)
        report.say("""
            Bitrix24 answered result: false because user \(user) had no account. The account now exists on the portal
            (in Bitrix24: the user accepted the invitation). Replaying intent \(target.intent) (b24outbox replay \(target.intent)):
            """)
        let replayed = try await services.database.run { db in
            try IntentStore.replay(.init(ids: [target.intent]), by: "demo", dryRun: false, on: db)
        }
        guard replayed == [target.intent] else { throw DemoError("intent \(target.intent) could not be replayed") }
        let deadline = ContinuousClock.now + .seconds(30)
        var timeline: [AuditLog.Entry] = []
        repeat {
            try await Task.sleep(for: .milliseconds(100))
            timeline = try await entries(services, intent: target.intent)
        } while timeline.last?.type != LogType.deliverySucceeded && timeline.last?.type != LogType.intentDead
            && ContinuousClock.now < deadline
        report.timeline(timeline)
        guard timeline.last?.type == LogType.deliverySucceeded else {
            throw DemoError("the replayed intent \(target.intent) was not delivered")
        }
        report.say("Intent \(target.intent) is delivered; the log keeps its whole story, the dead end included.")
    }

    /// Each delivered intent took effect exactly once on the portal, and `verify` agrees with the log.
    func check(_ services: DemoServices, stage: Int) async throws {
        report.stage(stage, "Checks")
        let portalID = services.portal.id
        let delivered: [String: Int] = try await services.database.run { db in
            var counts: [String: Int] = [:]
            for row in try db.query("""
                SELECT kind, count(*) FROM outbox.intents WHERE portal_id = $1 AND status = 'delivered' GROUP BY kind
                """, [portalID]) { counts[try row.decode(0)] = try row.decode(1) }
            return counts
        }
        let state = await services.simulator.snapshot()
        let notifications = (delivered[IntentKind.notifyPersonal.rawValue] ?? 0) + (delivered[IntentKind.notifySystem.rawValue] ?? 0)
        let chats = delivered[IntentKind.chatCreate.rawValue] ?? 0
        let perTag = Dictionary(grouping: state.notifications) { "\($0.userID)|\($0.tag ?? "")" }
        let perEntity = Dictionary(grouping: state.chats) { "\($0.entityType)|\($0.entityID)" }
        report.say("""
            The portal shows \(state.notifications.count.grouped) notifications for \(notifications.grouped) delivered \
            notification intents and \(state.chats.count) chats for \(chats) delivered chat intents: each took effect once.
            Resends after ambiguous failures replaced \(state.effects.notificationsReplaced) notification(s) by their TAG; \
            chat lookups (im.chat.get) kept chats single.
            """)
        guard state.notifications.count == notifications, perTag.values.allSatisfy({ $0.count == 1 }),
              state.chats.count == chats, perEntity.values.allSatisfy({ $0.count == 1 }) else {
            throw DemoError("the portal's effects do not match the delivered intents one to one")
        }
        let report = try await services.database.run { db in try Verifier().verify(on: db) }
        self.report.say(report.isConsistent
            ? "b24outbox verify: ok: \(report.intents.grouped) intents match their \(report.entries.grouped) log entries"
            : "b24outbox verify: \(report.mismatches.count) mismatches: \(report.mismatches.prefix(5).map(\.description).joined(separator: "; "))")
        guard report.isConsistent else { throw DemoError("verify found mismatches between the log and the intents") }
    }
}
