import Outbox
import ServiceLifecycle

/// Runs `Maintenance` while `serve` runs (a worker pool runs its own): inbound events are
/// appended to the log, and none may fail for want of a partition. On graceful shutdown it
/// gives its turn up, so another process takes the maintenance over at once.
public struct MaintenanceService: Service {
    let maintenance: Maintenance

    public init(maintenance: Maintenance) {
        self.maintenance = maintenance
    }

    public func run() async {
        // Cancelled too when another service of the group fails: it must not keep the group waiting.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await maintenance.runUntilStopped()
            } onGracefulShutdown: {
                maintenance.stop()
            }
        } onCancel: {
            maintenance.stop()
        }
    }
}
