import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn` and reaped with `wait4`, so its peak resident
/// memory comes from the kernel's own accounting rather than from sampling.
final class ChildProcess: @unchecked Sendable {
    struct Exit: Sendable {
        var status: Int32
        var elapsed: Duration
        /// Peak resident set size of the child, in bytes (`ru_maxrss`).
        var peakRSS: Int
    }

    let pid: pid_t
    let started: ContinuousClock.Instant
    private var exit: Exit?

    /// Starts `executable` with `arguments`; stdout and stderr go to `output` (appended).
    init(executable: String, arguments: [String], environment: [String: String], output: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard status == 0 else {
            throw BenchError("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        self.pid = pid
        started = .now
    }

    func signal(_ number: Int32) {
        if exit == nil { kill(pid, number) }
    }

    /// Blocks until the child exits.
    @discardableResult
    func wait() -> Exit {
        while true {
            if let exit = reap(options: 0) { return exit }
        }
    }

    /// The exit, if the child has exited (without blocking).
    func poll() -> Exit? {
        reap(options: WNOHANG)
    }

    private func reap(options: Int32) -> Exit? {
        if let exit { return exit }
        var status: Int32 = 0
        var usage = rusage()
        guard wait4(pid, &status, options, &usage) == pid else { return nil }
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let result = Exit(status: code, elapsed: .now - started, peakRSS: usage.ru_maxrss * 1024)
        exit = result
        return result
    }

    /// Asks the child to stop (SIGTERM), and kills it if it has not stopped within `grace`.
    @discardableResult
    func stop(grace: Duration = .seconds(10)) -> Exit {
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if let exit = poll() { return exit }
            Thread.sleep(forTimeInterval: 0.02)
        }
        signal(SIGKILL)
        return wait()
    }

    deinit {
        if exit == nil {
            kill(pid, SIGKILL)
            _ = wait()
        }
    }
}

/// A benchmark could not run, or its result would not be honest (something was not delivered).
public struct BenchError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
