import Bitrix24Wire
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
    /// The port of the portal's address after a rename (always one the system picked).
    public let renamedPort: Int
    let portal: Portal
    private let server: Task<Void, any Error>
    private let renamedServer: Task<Void, any Error>

    private init(
        configuration: Configuration, port: Int, renamedPort: Int, portal: Portal,
        server: Task<Void, any Error>, renamedServer: Task<Void, any Error>
    ) {
        self.configuration = configuration
        self.port = port
        self.renamedPort = renamedPort
        self.portal = portal
        self.server = server
        self.renamedServer = renamedServer
    }

    /// Starts a portal and returns once it accepts connections.
    ///
    /// Two listeners share the portal: `baseURL`, and `renamedBaseURL`, the address a rename
    /// moves it to (a renamed portal has a new host name; on loopback a second port stands in).
    ///
    /// - Parameter stopOnSignals: stop gracefully on SIGINT/SIGTERM (for the CLI; tests call `stop()`).
    public static func start(
        _ configuration: Configuration = Configuration(), stopOnSignals: Bool = false, logger: Logger? = nil
    ) async throws -> Simulator {
        let portal = Portal(configuration: configuration)
        var log = logger ?? Logger(label: "Bitrix24Simulator")
        if logger == nil { log.logLevel = .critical }
        let renamed = try await serve(
            SimulatorResponder(portal: portal, configuration: configuration, renamedOrigin: nil),
            port: 0, configuration: configuration, stopOnSignals: false, logger: log)
        let renamedOrigin = "http://\(configuration.host):\(renamed.port)"
        do {
            let main = try await serve(
                SimulatorResponder(portal: portal, configuration: configuration, renamedOrigin: renamedOrigin),
                port: configuration.port, configuration: configuration, stopOnSignals: stopOnSignals, logger: log,
                onStop: { renamed.task.cancel() })
            return Simulator(
                configuration: configuration, port: main.port, renamedPort: renamed.port, portal: portal,
                server: main.task, renamedServer: renamed.task)
        } catch {
            renamed.task.cancel()
            _ = await renamed.task.result
            throw error
        }
    }

    /// Runs one listener; returns its port once it accepts connections. `onStop` runs when it ends.
    private static func serve(
        _ responder: SimulatorResponder, port: Int, configuration: Configuration, stopOnSignals: Bool,
        logger: Logger, onStop: @escaping @Sendable () -> Void = {}
    ) async throws -> (port: Int, task: Task<Void, any Error>) {
        let (ports, continuation) = AsyncThrowingStream<Int, any Error>.makeStream()
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname(configuration.host, port: port), serverName: nil),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? port) },
            logger: logger)
        let server = Task {
            defer { onStop() }
            do {
                if stopOnSignals { try await app.runService() } else { try await app.run() }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
                throw error
            }
        }
        for try await port in ports {
            return (port, server)
        }
        throw CancellationError()
    }

    /// Stops the server; requests in flight are abandoned (held ones dropped).
    public func stop() async {
        await dropHeldCalls()
        server.cancel()
        renamedServer.cancel()
        _ = await server.result
        _ = await renamedServer.result
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
    /// `http://HOST:RENAMED_PORT`: where the portal answers after a rename (`rename(to:)`,
    /// `Configuration.renamedTo`), as a renamed portal answers at its new host name.
    public var renamedBaseURL: URL { URL(string: "http://\(configuration.host):\(renamedPort)")! }

    // MARK: Inspection and control

    /// What the portal holds and did so far.
    public func snapshot() async -> Snapshot { await portal.snapshot() }

    /// Forgets all data and counters, the offline event queue included; drops held calls and
    /// stops holding; tokens, bucket, budgets and the fault seed start over.
    public func reset() async { await portal.reset() }

    /// Makes every access token issued so far expire now: the next call with one gets
    /// `expired_token` until the client refreshes.
    public func expireAccessTokens() async { await portal.expireAccessTokens() }

    /// Kills every refresh token: the next refresh gets `invalid_grant`.
    public func revokeRefreshTokens() async { await portal.revokeRefreshTokens() }

    /// A user opens the application again: a new pair is issued (what `portal set-tokens` stores).
    public func authorizeAgain() async -> (accessToken: String, refreshToken: String, expiresIn: Int) {
        let issued = await portal.authorizeAgain()
        return (issued.accessToken, issued.refreshToken, Int(issued.expires.timeIntervalSinceNow.rounded()))
    }

    /// The next `count` refreshes rotate the pair and then close the connection without an
    /// answer: the client cannot tell whether the old refresh token was spent.
    public func loseRefreshAnswers(_ count: Int) async { await portal.loseRefreshAnswers(count) }

    /// Renames the portal: calls to `baseURL` get a 302 to `renamedBaseURL` (nil: back to the
    /// original name). See `Configuration.renamedTo`.
    public func rename(to name: String?) async { await portal.setRenamed(name) }

    /// While on, `im.chat.get` answers `[]`, which is neither a chat nor Bitrix24's `null` for
    /// "none": what a broken portal or proxy may send. Counted in `Snapshot.malformedChatLookups`.
    public func answerChatLookupsMalformed(_ on: Bool) async { await portal.setMalformedChatLookups(on) }

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

    /// Starts a simulator, runs `body` with it, and stops it however `body` ends.
    public static func run<T: Sendable>(
        _ configuration: Configuration = Configuration(), _ body: (Simulator) async throws -> T
    ) async throws -> T {
        let simulator = try await start(configuration)
        do {
            let value = try await body(simulator)
            await simulator.stop()
            return value
        } catch {
            await simulator.stop()
            throw error
        }
    }
}
