import AsyncHTTPClient

/// HTTP connections to Bitrix24 that many `Bitrix24Client`s share (one per portal, say): one
/// AsyncHTTPClient made with `Configuration.httpClientConfiguration`. Whoever creates the pool
/// shuts it down, once every client over it has no token refresh in flight
/// (`Bitrix24Client.waitForRefreshes()`).
public final class Bitrix24ConnectionPool: Sendable {
    let httpClient: HTTPClient

    public init(configuration: Bitrix24Client.Configuration = Bitrix24Client.Configuration()) {
        httpClient = HTTPClient(configuration: configuration.httpClientConfiguration)
    }

    /// Closes the pool's connections.
    public func shutdown() async throws {
        try await httpClient.shutdown()
    }

    /// `shutdown()` for a caller that is not async: AsyncHTTPClient's own blocking shutdown.
    public func syncShutdown() throws {
        try httpClient.syncShutdown()
    }
}
