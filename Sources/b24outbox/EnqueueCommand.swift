import ArgumentParser
import Bitrix24
import Bitrix24Wire
import Foundation
import Outbox

struct EnqueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueue a notification or a chat; prints the intent id.",
        subcommands: [Notify.self, System.self, Chat.self]
    )

    /// Options every kind shares.
    struct Common: ParsableArguments {
        @Option(help: "The portal to deliver to (see portal list).") var portal: String
        @Option(help: "Idempotency key: enqueueing it again returns the same intent (default: derived from the content).")
        var key: String?
        @Option(help: "Deliver no earlier than this RFC 3339 time, e.g. 2026-12-01T09:00:00+03:00.") var at: String?
        @Flag(help: "Print {\"id\": …} as JSON.") var json = false
        @OptionGroup var database: DatabaseOptions

        func notBefore() throws -> Date? {
            try at.map { try RFC3339.option($0, named: "--at") }
        }

        func enqueue(_ intent: NewIntent) throws {
            let id = try CLIError.explaining { try Producer.enqueue(intent, on: try database.connect()) }
            if json { try printJSON(["id": id]) } else { print(id) }
        }
    }

    struct Notification: ParsableArguments {
        @Option(help: "Recipient user id.") var user: Int64
        @Option(help: "Notification text.") var text: String
        @Option(help: "TAG: a newer notification with the same tag replaces the older one (default: derived from the key).")
        var tag: String?
        @Option(help: "Attachment blocks: a JSON array of blocks or an ATTACH object, or @file.") var blocks: String?

        func intent(portal: String, system: Bool, key: String?, notBefore: Date?) throws -> NewIntent {
            let attach = try blocks.map { text -> JSONValue in
                do {
                    return try JSONValue(jsonData: try readJSONArgument(text, option: "--blocks"))
                } catch let error as JSONSyntaxError {
                    throw CLIError("--blocks is not valid JSON, \(error) (nothing was written)")
                }
            }
            return .notification(portal: portal, user: user, message: text, tag: tag, attach: attach,
                                  system: system, key: key, notBefore: notBefore)
        }
    }

    struct Notify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A personal notification (im.notify.personal.add).")
        @OptionGroup var common: Common
        @OptionGroup var notification: Notification

        func run() throws {
            try common.enqueue(notification.intent(
                portal: common.portal, system: false, key: common.key, notBefore: try common.notBefore()))
        }
    }

    struct System: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A system notification (im.notify.system.add).")
        @OptionGroup var common: Common
        @OptionGroup var notification: Notification

        func run() throws {
            try common.enqueue(notification.intent(
                portal: common.portal, system: true, key: common.key, notBefore: try common.notBefore()))
        }
    }

    struct Chat: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A chat (im.chat.add).",
            discussion: #"Example: --fields '{"TYPE":"OPEN","TITLE":"Deal 7","USERS":[1,10]}' --key deal-7"#)
        @OptionGroup var common: Common
        @Option(help: "im.chat.add fields as a JSON object, or @file.") var fields: String

        func run() throws {
            let value: JSONValue
            do {
                value = try JSONValue(jsonData: try readJSONArgument(fields, option: "--fields"))
            } catch let error as JSONSyntaxError {
                throw CLIError("--fields is not valid JSON, \(error) (nothing was written)")
            }
            guard let object = value.objectValue else { throw CLIError("--fields must be a JSON object (nothing was written)") }
            try common.enqueue(.chat(portal: common.portal, fields: object, key: common.key, notBefore: try common.notBefore()))
        }
    }
}

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel intents that are not delivered yet (pending or dead).")
    @Argument(help: "Intent ids.") var ids: [Int64]
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        guard !ids.isEmpty else { throw ValidationError("give at least one intent id") }
        let cancelled = try IntentStore.cancel(ids, by: "cli", on: try database.connect())
        let refused = ids.filter { !cancelled.contains($0) }
        if json {
            try printJSON(["cancelled": cancelled, "not_cancelled": refused])
        } else {
            for id in cancelled { print("cancelled \(id)") }
            for id in refused { print("not cancelled \(id): unknown, delivered, in flight or already cancelled") }
        }
        if !refused.isEmpty { throw ExitCode(1) }
    }
}
