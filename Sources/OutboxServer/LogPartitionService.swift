import Logging
import Outbox
import Postgres
import ServiceLifecycle

/// Keeps the log's monthly partitions created ahead while `serve` runs: inbound events are
/// appended to the log, and none may fail for want of a partition.
public struct LogPartitionService: Service {
    let database: DatabaseExecutor
    let logger: Logger

    public init(database: DatabaseExecutor, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let created = try await database.run(retryOnConnectionLoss: true) { db in try LogPartitions.ensure(on: db) }
                    for partition in created {
                        logger.notice("created log partition", metadata: ["partition": "\(partition)"])
                    }
                } catch {
                    logger.warning("could not create the log's next partitions; trying again in an hour", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: LogPartitions.checkInterval)
            }
        }
    }
}
