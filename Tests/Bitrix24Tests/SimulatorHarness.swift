import Bitrix24
import Bitrix24Simulator
import Foundation
import Testing

/// The real client against the real simulator over loopback: one simulator per test, stopped
/// (and every client shut down) when the test body ends, however it ends.
enum SimulatorHarness {
    /// A simulator without a rate limit (tests of the limit set one), plus `configure`.
    static func withSimulator<T: Sendable>(
        _ configure: (inout Simulator.Configuration) -> Void = { _ in },
        _ body: (Simulator) async throws -> T
    ) async throws -> T {
        var configuration = Simulator.Configuration()
        configuration.rateLimit = nil
        configure(&configuration)
        return try await Simulator.run(configuration, body)
    }

    /// A simulator and a webhook client of it.
    static func withWebhookClient<T: Sendable>(
        simulator configure: (inout Simulator.Configuration) -> Void = { _ in },
        client configureClient: (inout Bitrix24Client.Configuration) -> Void = { _ in },
        _ body: (Simulator, Bitrix24Client) async throws -> T
    ) async throws -> T {
        try await withSimulator(configure) { simulator in
            try await withClient(simulator.webhookClient(configureClient)) { client in
                try await body(simulator, client)
            }
        }
    }

    /// Runs `body` with `client`, then shuts the client down (it owns its HTTP client).
    static func withClient<T: Sendable>(
        _ client: Bitrix24Client, _ body: (Bitrix24Client) async throws -> T
    ) async throws -> T {
        do {
            let value = try await body(client)
            try await client.shutdown()
            return value
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

extension Simulator {
    /// A client of this portal's incoming webhook (or of `url`, a webhook URL of it).
    func webhookClient(
        _ configure: (inout Bitrix24Client.Configuration) -> Void = { _ in },
        url: URL? = nil,
        onPortalMoved: (@Sendable (URL) async -> Void)? = nil
    ) throws -> Bitrix24Client {
        var configuration = Bitrix24Client.Configuration()
        configure(&configuration)
        return Bitrix24Client(
            credentials: try .webhook(url ?? webhookURL, allowInsecureHTTP: true),
            configuration: configuration, onPortalMoved: onPortalMoved)
    }

    /// A client of the portal's OAuth application, with the tokens it was started with. With
    /// `refreshable` it also holds the refresh token and client credentials, and refreshes at
    /// this simulator's token endpoint.
    func oauthClient(
        refreshable: Bool = true,
        onTokensRefreshed: (@Sendable (OAuthTokens) async -> Void)? = nil,
        onPortalMoved: (@Sendable (URL) async -> Void)? = nil
    ) throws -> Bitrix24Client {
        let oauth = configuration.oauth
        var configuration = Bitrix24Client.Configuration()
        configuration.tokenEndpoint = tokenURL
        return Bitrix24Client(
            credentials: try .oauth(
                portal: restURL, accessToken: oauth.accessToken,
                refreshToken: refreshable ? oauth.refreshToken : nil,
                clientID: refreshable ? oauth.clientID : nil,
                clientSecret: refreshable ? oauth.clientSecret : nil,
                allowInsecureHTTP: true),
            configuration: configuration, onTokensRefreshed: onTokensRefreshed, onPortalMoved: onPortalMoved)
    }

    /// Polls the snapshot until `condition` holds or `timeout` passes (the simulator may still
    /// be storing an effect the client gave up waiting for); returns the last snapshot.
    func snapshot(
        waitingUpTo timeout: Duration, until condition: (Snapshot) -> Bool
    ) async throws -> Snapshot {
        let deadline = ContinuousClock.now + timeout
        while true {
            let state = await snapshot()
            if condition(state) || ContinuousClock.now >= deadline { return state }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// The `Bitrix24Error` that `body` throws; records an issue (and returns nil) when it succeeds
/// or throws anything else.
func bitrix24Error<T>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> Bitrix24Error? {
    do {
        let value = try await body()
        Issue.record("expected a Bitrix24Error, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as Bitrix24Error {
        return error
    } catch {
        Issue.record("expected a Bitrix24Error, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Collects what the client's callbacks report, from whatever task they run on.
actor Recorder<Item: Sendable> {
    private(set) var items: [Item] = []
    func record(_ item: Item) { items.append(item) }
}
