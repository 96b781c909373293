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
        await withGracefulShutdownHandler {
            await maintenance.runUntilStopped()
        } onGracefulShutdown: {
            maintenance.stop()
        }
    }
}
