import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("Dialog-finish events and the chats they concern", .enabled(if: TestEnvironment.hasDatabase))
struct DialogLinkTests {
    @Test("a dialog's end shows in the timeline of the chat intent that created the chat")
    func linkedToChatIntent() async throws {
        try await ServerHarness.with { h in
            let intent = try Producer.enqueue(
                .chat(portal: "sim", fields: ["TITLE": "Order 42", "USERS": [1, 2]], key: "order-42"), on: h.db)
            try await h.deliver()
            let chatID: Int64 = try h.db.query(
                "SELECT result_id FROM outbox.intents WHERE id = $1 AND status = 'delivered'", [intent]).first!.decode(0)

            #expect(try await h.simulator.sendDialogFinish(to: h.eventsURL, chatID: chatID, sessionID: 901) == 200)
            // A dialog in a chat nobody here created is stored, and linked to nothing.
            #expect(try await h.simulator.sendDialogFinish(to: h.eventsURL, chatID: 999_999, sessionID: 902) == 200)

            let output = try await CLI.runDetached(["log", "--intent", "\(intent)", "--json", "--database-url", h.scratch.conninfo])
            #expect(output.status == 0, "\(output.stderr)")
            let entries = try JSONValue(jsonData: Data(output.stdout.utf8)).arrayValue ?? []
            let types = entries.compactMap { $0["type"]?.stringValue }
            #expect(types.last == LogType.chatDialogFinished, "\(types)")
            let finished = entries.last
            #expect(finished?["data"]?["session_id"]?.intValue == 901)
            #expect(finished?["data"]?["chat_id"]?.intValue == chatID)
            #expect(try h.count("SELECT count(*) FROM outbox.log WHERE type = 'chat.dialog_finished'") == 1)

            // `log --chat` finds the chat's creation and the event about it.
            let byChat = try await CLI.runDetached(["log", "--chat", "\(chatID)", "--type", "bitrix.event", "--json", "--database-url", h.scratch.conninfo])
            #expect((try JSONValue(jsonData: Data(byChat.stdout.utf8)).arrayValue ?? []).count == 1, "\(byChat.stdout)")

            // The projection still matches the log: an annotation changes no intent.
            let report = try Verifier().verify(on: h.db)
            #expect(report.isConsistent, "\(report.mismatches)")
        }
    }

    @Test("a dialog-finish event whose data cannot be read is stored as received, with the reason")
    func unreadableDialogStored() async throws {
        try await ServerHarness.with { h in
            var event = await h.simulator.dialogFinishEvent()
            event.closed = "perhaps"
            let answer = try await h.post(event.formBody, contentType: "application/x-www-form-urlencoded")
            #expect(answer.status == 200, "\(answer.body)")
            let reason: String? = try h.db.query(
                "SELECT data->>'decode_error' FROM outbox.log WHERE type = 'bitrix.event'").first!.decode(0)
            #expect(reason?.contains("session.closed") == true, "\(reason ?? "nil")")
        }
    }
}
