import Outbox
import ServiceLifecycle

/// A worker pool as a service: graceful shutdown (SIGTERM in a `ServiceGroup`) stops claiming,
/// lets calls in flight finish and releases the rest, as the `worker` command does.
public struct WorkerService: Service {
    let pool: WorkerPool

    public init(pool: WorkerPool) {
        self.pool = pool
    }

    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await pool.runUntilStopped()
            } onGracefulShutdown: {
                pool.stop()
            }
        } onCancel: {
            pool.stop()
        }
    }
}
