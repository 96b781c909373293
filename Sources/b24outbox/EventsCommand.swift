import ArgumentParser
import Bitrix24
import Foundation
import Logging
import Outbox
import Postgres

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Bitrix24 events: pull the offline queue of an OAuth application.",
        subcommands: [EventsPullCommand.self])
}

struct EventsPullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Store a portal's offline events, then clear exactly those from its queue.",
        discussion: """
            The lossless alternative to the event handler, for OAuth applications that bound their events
            with event_type=offline. Events are reserved (event.offline.get, clear=0), committed to the log,
            and only then cleared (event.offline.clear). Killing the command at any moment loses nothing:
            the next run stores what was reserved but not cleared (once) and clears it.
            """)

    @Option(help: "The portal (an OAuth application portal).") var portal: String
    @Option(help: "Events per event.offline.get call (1 to 1000).") var pageSize = 50
    @Flag(help: "Keep pulling every --interval seconds until stopped.") var follow = false
    @Option(help: "Seconds between pulls with --follow.") var interval = 10
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard (1...1000).contains(pageSize) else { throw ValidationError("--page-size must be between 1 and 1000") }
        try requireRange(interval, 1...86_400, "--interval", unit: " seconds")
    }

    func run() async throws {
        try database.requireCurrentSchema()
        let db = try database.connect()
        guard let found = try PortalStore.portal(named: portal, on: db) else {
            throw CLIError("there is no portal named \(portal); see b24outbox portal list")
        }
        guard found.authKind == "oauth" else {
            throw CLIError("portal \(portal) uses a webhook; Bitrix24 lets only OAuth applications read the offline event queue")
        }
        let logger = Logger(label: "b24outbox.events")
        let clients = PortalClients(conninfo: database.conninfo, logger: logger)
        defer { try? clients.shutdown() }
        let executor = DatabaseExecutor(conninfo: database.conninfo, configuration: .init())
        defer { executor.shutdown() }
        var puller = OfflineEventPuller(
            client: try CLIError.explaining { try clients.client(forPortal: found.id, on: db) }, portalID: found.id, database: executor)
        puller.pageSize = pageSize
        db.close()
        repeat {
            let report: OfflineEventPuller.Report
            do {
                report = try await puller.pull()
            } catch let error as Bitrix24Error {
                let message = "Bitrix24 refused: \(error.description). Events not cleared stay on the portal"
                guard follow else { throw CLIError("\(message); run again.") }
                // Following: a rate limit or an outage is waited out; nothing was cleared unstored.
                logger.warning("\(message); trying again in \(interval) s")
                try await Task.sleep(for: .seconds(interval))
                continue
            }
            if json {
                try printJSON(report)
            } else {
                print("stored \(report.stored), already stored \(report.duplicates), cleared \(report.cleared)"
                      + " (\(report.recovered) recovered from an earlier run), \(report.linkedIntents) chat intents linked")
            }
            if follow { try await Task.sleep(for: .seconds(interval)) }
        } while follow
    }
}
