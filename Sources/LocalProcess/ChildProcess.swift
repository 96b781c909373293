import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A program run as a child process with `posix_spawn` and reaped with `waitpid`. (Foundation's
/// `Process` can miss the exit of `pg_ctl start`, whose server keeps running after it.)
///
/// Its standard input is /dev/null; its standard output and error are appended to a file. SIGINT
/// and SIGTERM are reset to their defaults in the child, so a parent that ignores them to clean
/// up by itself does not pass that on.
public final class ChildProcess: @unchecked Sendable {
    public struct Exit: Sendable {
        /// The exit status, or 128 + the signal that ended it; -1 when it could not be waited for.
        public var status: Int32
        /// From the start to when the exit was seen.
        public var elapsed: Duration
    }

    public let pid: pid_t
    public let started: ContinuousClock.Instant
    // Touched only by the thread that owns this child.
    private var exit: Exit?

    /// Starts `executable` with `arguments`; stdout and stderr are appended to `output`.
    public init(
        executable: String, arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        output: String
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        // Before the spawn, which can take a while on a loaded machine: the child's time counts
        // from when it was asked for, as a caller timing it from just before expects.
        let asked = ContinuousClock.now
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw ChildProcessError(description: "cannot run \(executable): \(String(cString: strerror(status)))")
        }
        self.pid = pid
        started = asked
    }

    public func signal(_ number: Int32) {
        if exit == nil { kill(pid, number) }
    }

    /// Blocks until the child exits.
    @discardableResult
    public func wait() -> Exit {
        while true {
            if let exit = reap(options: 0) { return exit }
            // Only an interrupted wait is tried again; a child that cannot be waited for
            // (already reaped elsewhere) counts as gone.
            if errno != EINTR {
                let gone = Exit(status: -1, elapsed: .now - started)
                exit = gone
                return gone
            }
        }
    }

    /// The exit, if the child has exited (without blocking).
    public func poll() -> Exit? {
        reap(options: WNOHANG)
    }

    private func reap(options: Int32) -> Exit? {
        if let exit { return exit }
        var status: Int32 = 0
        guard waitpid(pid, &status, options) == pid else { return nil }
        // WIFEXITED / WEXITSTATUS, which Swift does not import: a signal counts as 128 + its number.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let result = Exit(status: code, elapsed: .now - started)
        exit = result
        return result
    }

    /// Asks the child to stop (SIGTERM), and kills it if it has not stopped within `grace`.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) -> Exit {
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

/// A program could not be started.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A loopback port nothing listens on right now (the kernel's pick), for a child to bind.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ChildProcessError(description: "cannot open a socket to find a free port") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw ChildProcessError(description: "cannot find a free port on 127.0.0.1") }
    return Int(UInt16(bigEndian: address.sin_port))
}
