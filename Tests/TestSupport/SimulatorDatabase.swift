import Bitrix24Simulator
import Outbox
import Postgres

/// A scratch database with every migration applied and `simulator` registered in it as the
/// webhook portal `sim`, with a bucket nothing fills: where the server and CLI suites start.
public func simulatorDatabase(
    _ simulator: Simulator, configuration: Simulator.Configuration
) throws -> (ScratchDatabase, Connection) {
    let scratch = try ScratchDatabase()
    let db = try scratch.connect()
    try Migrator().migrate(on: db)
    try PortalStore.add(PortalRegistration(
        name: "sim", credentials: try .webhook(simulator.webhookURL, allowInsecureHTTP: true),
        applicationToken: configuration.applicationToken, memberID: configuration.memberID,
        domain: configuration.domain, rateBucket: 1_000_000, rateDrain: 1_000_000), on: db)
    return (scratch, db)
}
