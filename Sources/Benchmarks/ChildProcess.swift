import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, with its peak resident memory.
///
/// The peak is the kernel's high-water mark of the child's own address space (`VmHWM` in
/// /proc/PID/status), read every 10 ms while it runs. `wait4`'s `ru_maxrss` would not do: at
/// `exec` Linux folds the parent's resident size into the child's, so it reports the parent.
final class ChildProcess: @unchecked Sendable {
    struct Exit: Sendable {
        var status: Int32
        var elapsed: Duration
        /// Peak resident set size of the child, in bytes.
        var peakRSS: Int
    }

    let pid: pid_t
    let started: ContinuousClock.Instant
    private var exit: Exit?
    private let highWater = HighWater()
    private let sampler = DispatchGroup()

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
        DispatchQueue.global().async(group: sampler) { [highWater, pid] in
            // Ends when the child has exited: a zombie's status has no VmHWM line.
            while let kib = Self.highWaterKiB(of: pid) {
                highWater.raise(to: kib * 1024)
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    /// `VmHWM` of a running process, in KiB; nil once it has exited.
    private static func highWaterKiB(of pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }

    func signal(_ number: Int32) {
        if exit == nil { kill(pid, number) }
    }

    /// Blocks until the child exits.
    @discardableResult
    func wait() -> Exit {
        while true {
            if let exit = reap(options: 0) { return exit }
            // Only an interrupted wait is tried again; a child that cannot be waited for
            // (already reaped elsewhere) counts as gone.
            if errno != EINTR {
                let gone = Exit(status: -1, elapsed: .now - started, peakRSS: highWater.bytes)
                exit = gone
                return gone
            }
        }
    }

    /// The exit, if the child has exited (without blocking).
    func poll() -> Exit? {
        reap(options: WNOHANG)
    }

    private func reap(options: Int32) -> Exit? {
        if let exit { return exit }
        var status: Int32 = 0
        guard waitpid(pid, &status, options) == pid else { return nil }
        let elapsed = ContinuousClock.now - started
        sampler.wait()
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let result = Exit(status: code, elapsed: elapsed, peakRSS: highWater.bytes)
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

/// The highest resident size seen so far, shared with the sampling thread.
private final class HighWater: Sendable {
    private let value = Mutex(0)
    var bytes: Int { value.withLock { $0 } }
    func raise(to bytes: Int) { value.withLock { $0 = max($0, bytes) } }
}

/// A benchmark could not run, or its result would not be honest (something was not delivered).
public struct BenchError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
