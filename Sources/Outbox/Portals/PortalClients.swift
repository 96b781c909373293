import Bitrix24
import Foundation
import Logging
import Postgres
import Synchronization

/// One Bitrix24 client per portal, over one shared connection pool, created on first use.
/// Refreshed tokens (see `DatabaseRefreshGate`) and a renamed portal's address are written back to the
/// portal's row.
public final class PortalClients: Sendable {
    private let conninfo: String
    private let configuration: Bitrix24Client.Configuration
    private let connections: Bitrix24ConnectionPool
    private let logger: Logger
    private let metrics: OutboxMetrics
    /// Names this process in `outbox.token_refreshes`; a random part tells two containers
    /// (both PID 1) apart.
    private let holder = "\(ProcessInfo.processInfo.hostName.prefix(100))-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    private let clients = Mutex<[Int64: (client: Bitrix24Client, name: String)]>([:])
    private let gates = Mutex<[Int64: DatabaseRefreshGate]>([:])
    /// The refresh gates' database steps: two threads, so a store retried in the background
    /// never holds up a turn.
    private let gateDatabase: DatabaseExecutor

    public init(
        conninfo: String, configuration: Bitrix24Client.Configuration = .init(), logger: Logger,
        metrics: OutboxMetrics = OutboxMetrics()
    ) {
        self.conninfo = conninfo
        var gateDatabase = DatabaseExecutor.Configuration()
        gateDatabase.threads = 2
        // A turn's steps must not fail on a connection a restart closed since the last refresh.
        gateDatabase.checkAfterIdle = .seconds(10)
        self.gateDatabase = DatabaseExecutor(conninfo: conninfo, configuration: gateDatabase)
        self.metrics = metrics
        self.configuration = configuration
        self.connections = Bitrix24ConnectionPool(configuration: configuration)
        self.logger = logger
    }

    /// Closes the connection pool, after the token refreshes in flight (each ends within the request
    /// timeout) and, up to 10 s, any refreshed pair the database has not taken yet: the refresh
    /// token such a pair replaced is already dead at the server.
    public func shutdown() async throws {
        await settleTokens()
        try await connections.shutdown()
    }

    /// `shutdown()` for a caller that is not async (it blocks the calling thread).
    public func shutdown() throws {
        try blockingAwait { await self.settleTokens() }
        try connections.syncShutdown()
    }

    private func settleTokens() async {
        for client in clients.withLock({ $0.values.map(\.client) }) { await client.waitForRefreshes() }
        for gate in gates.withLock({ Array($0.values) }) { _ = await gate.flush(timeout: .seconds(10)) }
        gateDatabase.shutdown()
    }

    /// The client for a portal, reading its credentials with `db` the first time.
    public func client(forPortal portalID: Int64, on db: Connection) throws -> Bitrix24Client {
        try client(for: portalID, db: db).client
    }

    /// The client for a portal and the portal's name, reading its credentials with `db` the first time.
    func client(for portalID: Int64, db: Connection) throws -> (client: Bitrix24Client, name: String) {
        if let existing = clients.withLock({ $0[portalID] }) { return existing }
        let (credentials, tokenEndpoint, name) = try PortalStore.credentials(portalID: portalID, on: db)
        var configuration = configuration
        if let tokenEndpoint { configuration.tokenEndpoint = tokenEndpoint }
        let conninfo = conninfo
        let logger = logger
        let tokens = DatabaseRefreshGate(
            portalID: portalID, portal: name, database: gateDatabase, holder: holder, metrics: metrics, logger: logger)
        let client = Bitrix24Client(
            credentials: credentials, configuration: configuration, connections: connections, logger: logger,
            onPortalMoved: { url in
                do {
                    try PortalStore.storeMovedAddress(url, portalID: portalID, on: try Connection(conninfo))
                } catch {
                    logger.error("could not store the portal's new address", metadata: ["portal": "\(portalID)", "error": "\(error)"])
                }
            },
            // One refresh at a time across every process sharing the pair (sql/017).
            refreshGate: tokens.gate)
        return clients.withLock { cache in
            if let raced = cache[portalID] { return raced }
            cache[portalID] = (client, name)
            gates.withLock { $0[portalID] = tokens }
            return (client, name)
        }
    }
}
