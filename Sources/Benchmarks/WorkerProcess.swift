import Foundation

/// `b24outbox worker` in a process of its own: what users run, measured from the outside.
final class WorkerProcess {
    private let process: ChildProcess

    init(executable: String, conninfo: String, concurrency: Int, batch: Int, untilIdle: Bool, log: String) throws {
        var environment = ProcessInfo.processInfo.environment
        // The database URL goes through the environment, never the command line (`ps` shows that).
        environment["DATABASE_URL"] = conninfo
        var arguments = ["worker", "--concurrency", "\(concurrency)", "--batch", "\(batch)"]
        if untilIdle { arguments.append("--until-idle") }
        process = try ChildProcess(executable: executable, arguments: arguments, environment: environment, output: log)
    }

    /// Waits for a worker started with `untilIdle` to finish; its exit status must be 0.
    func waitUntilIdle(log: String) throws -> ChildProcess.Exit {
        let exit = process.wait()
        guard exit.status == 0 else { throw BenchError("the worker exited with status \(exit.status); see \(log)") }
        return exit
    }

    /// Whether it has exited (without waiting).
    var hasExited: Bool { process.poll() != nil }

    /// SIGTERM, as an operator stops it; returns its exit.
    func stop() -> ChildProcess.Exit {
        process.stop(grace: .seconds(40))
    }
}
