import Bitrix24
import Foundation
import Hummingbird
import Logging

/// A fake Bitrix24 portal over loopback HTTP, faithful to the REST API as documented:
/// webhook and OAuth calls, `im.chat.*`, `im.notify.*`, `batch`, the OAuth token endpoint,
/// the leaky-bucket and operating-time limits, and seeded faults.
///
/// ```swift
/// let sim = try await Simulator.start()
/// defer { Task { await sim.stop() } }
/// // POST to sim.webhookURL.appending(path: "im.notify.personal.add") …
/// let state = await sim.snapshot()
/// ```
public final class Simulator: Sendable {
    public let configuration: Configuration
    /// The port the server listens on (the configured one, or the one the system picked).
    public let port: Int
    let portal: Portal
    private let server: Task<Void, any Error>

    private init(configuration: Configuration, port: Int, portal: Portal, server: Task<Void, any Error>) {
        self.configuration = configuration
        self.port = port
        self.portal = portal
        self.server = server
    }

    /// Starts a portal and returns once it accepts connections.
    ///
    /// - Parameter stopOnSignals: stop gracefully on SIGINT/SIGTERM (for the CLI; tests call `stop()`).
    public static func start(
        _ configuration: Configuration = Configuration(), stopOnSignals: Bool = false, logger: Logger? = nil
    ) async throws -> Simulator {
        let portal = Portal(configuration: configuration)
        let (ports, continuation) = AsyncThrowingStream<Int, any Error>.makeStream()
        var log = logger ?? Logger(label: "Bitrix24Simulator")
        if logger == nil { log.logLevel = .critical }
        let app = Application(
            responder: SimulatorResponder(portal: portal, configuration: configuration),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? configuration.port) },
            logger: log)
        let server = Task {
            do {
                if stopOnSignals { try await app.runService() } else { try await app.run() }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
                throw error
            }
        }
        for try await port in ports {
            return Simulator(configuration: configuration, port: port, portal: portal, server: server)
        }
        throw CancellationError()
    }

    /// Stops the server; requests in flight are abandoned.
    public func stop() async {
        server.cancel()
        _ = await server.result
    }

    /// Waits until the server stops (after SIGINT/SIGTERM when started with `stopOnSignals`).
    public func waitUntilStopped() async throws {
        try await server.value
    }

    // MARK: Addresses

    /// `http://HOST:PORT`.
    public var baseURL: URL { URL(string: "http://\(configuration.host):\(port)")! }
    /// The incoming webhook, ending in `/`: append a method name to call it.
    public var webhookURL: URL {
        URL(string: "http://\(configuration.host):\(port)/rest/\(configuration.webhookUserID)/\(configuration.webhookCode)/")!
    }
    /// REST endpoint for OAuth calls (`client_endpoint`), ending in `/`.
    public var restURL: URL { URL(string: "http://\(configuration.host):\(port)/rest/")! }
    /// The OAuth server's token endpoint.
    public var tokenURL: URL { URL(string: "http://\(configuration.host):\(port)/oauth/token/")! }

    // MARK: Inspection and control

    /// What the portal holds and did so far.
    public func snapshot() async -> Snapshot { await portal.snapshot() }

    /// Forgets all data and counters; tokens, bucket, budgets and the fault seed start over.
    public func reset() async { await portal.reset() }

    /// Makes every access token issued so far expire now: the next call with one gets
    /// `expired_token` until the client refreshes.
    public func expireAccessTokens() async { await portal.expireAccessTokens() }

    /// Kills every refresh token: the next refresh gets `invalid_grant`.
    public func revokeRefreshTokens() async { await portal.revokeRefreshTokens() }

    /// Renames the portal (nil: back to the original name). See `Configuration.renamedTo`.
    public func rename(to prefix: String?) async { await portal.setRenamed(prefix) }

    /// Activates or deactivates a user (inactive users get `result: false` notifications).
    public func setUser(_ id: Int64, active: Bool) async { await portal.setUserActive(id, active) }

    /// The newest OAuth token pair.
    public func currentTokens() async -> (accessToken: String, refreshToken: String) {
        let issued = await portal.currentTokens()
        return (issued.accessToken, issued.refreshToken)
    }

    // MARK: Events

    /// A dialog-finish event from this portal, carrying its identity and current tokens.
    public func dialogFinishEvent(chatID: Int64 = 8, sessionID: Int64 = 3282) async -> OutgoingDialogFinish {
        let tokens = await currentTokens()
        var event = OutgoingDialogFinish(
            auth: .init(
                domain: configuration.domain, memberID: configuration.memberID,
                applicationToken: configuration.applicationToken, accessToken: tokens.accessToken,
                refreshToken: tokens.refreshToken, clientEndpoint: restURL.absoluteString))
        event.chatID = chatID
        event.sessionID = sessionID
        return event
    }

    /// Posts a dialog-finish event to an application's handler; returns the HTTP status.
    @discardableResult
    public func sendDialogFinish(
        to handler: URL, chatID: Int64 = 8, sessionID: Int64 = 3282, sender: EventSender = EventSender()
    ) async throws -> Int {
        try await sender.send(await dialogFinishEvent(chatID: chatID, sessionID: sessionID), to: handler)
    }
}
