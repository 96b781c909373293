import Foundation

/// Wakes idle workers: the listener signals it on every NOTIFY, `stop` on shutdown.
final class WakeSignal: Sendable {
    private let condition = NSCondition()
    // Read and written only while `condition` is locked.
    nonisolated(unsafe) private var generation: UInt64 = 0

    /// Wakes every waiter.
    func signal() {
        condition.lock()
        generation &+= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Where the signals stand now: pass it to `wait(after:timeout:)` to wait for any signal
    /// sent after this moment, including one sent before the wait begins.
    var current: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return generation
    }

    /// Waits for the next signal, or until `timeout` passes.
    func wait(timeout: Duration) {
        wait(after: current, timeout: timeout)
    }

    /// Returns at once if a signal came after `seen`, else waits for one, or until `timeout` passes.
    func wait(after seen: UInt64, timeout: Duration) {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout.inSeconds)
        while generation == seen {
            if !condition.wait(until: deadline) { return }
        }
    }
}
