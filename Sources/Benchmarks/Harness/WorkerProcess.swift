import Foundation
import LocalProcess

/// `b24outbox worker` in a process of its own: what users run, measured from the outside.
final class WorkerProcess {
    /// How a worker started with `untilIdle` ran: from its start to its exit, and its peak memory.
    struct Run {
        var elapsed: Duration
        var peakRSS: Int
    }

    private let process: ChildProcess
    private let memory: MemoryHighWater

    init(executable: String, conninfo: String, concurrency: Int, batch: Int, untilIdle: Bool, log: String) throws {
        var environment = ProcessInfo.processInfo.environment
        // The database URL goes through the environment, never the command line (`ps` shows that).
        environment["DATABASE_URL"] = conninfo
        var arguments = ["worker", "--concurrency", "\(concurrency)", "--batch", "\(batch)"]
        if untilIdle { arguments.append("--until-idle") }
        process = try ChildProcess(executable: executable, arguments: arguments, environment: environment, output: log)
        memory = MemoryHighWater(watching: process.pid)
    }

    /// Waits for a worker started with `untilIdle` to finish; its exit status must be 0.
    func waitUntilIdle(log: String) throws -> Run {
        let exit = process.wait()
        guard exit.status == 0 else { throw BenchError("the worker exited with status \(exit.status); see \(log)") }
        return Run(elapsed: exit.elapsed, peakRSS: memory.bytes)
    }

    /// Whether it has exited (without waiting).
    var hasExited: Bool { process.poll() != nil }

    /// SIGTERM, as an operator stops it.
    func stop() {
        process.stop(grace: .seconds(40))
    }
}
