import Outbox
import OutboxServer

/// Everything that decides how one process of b24outbox is put together: what `serve`,
/// `worker` and `run` read from their options, and the demo and the tests set directly.
public struct AppConfiguration: Sendable {
    /// The database, as a libpq conninfo string or URI.
    public var conninfo: String
    /// Where the HTTP server listens, and what the event endpoint accepts.
    public var server = OutboxServer.Configuration()
    /// Connections that store events; health, readiness, metrics and maintenance have one of their own.
    public var eventConnections = 4
    /// `/metrics` and `/readyz` read the database at most once per interval each.
    public var statusInterval: Duration = .seconds(1)
    /// The worker pool of `worker` and `run`; its `requestTimeout` is the Bitrix24 clients' too.
    public var worker = WorkerPool.Configuration()

    public init(conninfo: String) {
        self.conninfo = conninfo
    }
}
