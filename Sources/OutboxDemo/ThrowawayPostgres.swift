import Foundation
import LocalProcess
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL cluster in a temporary folder this process owns, for `demo` when no database is
/// given. It listens on no TCP address, only on a socket in a folder (0700) nobody else can
/// enter, and refuses host connections: with trust on a TCP port any local user would be its
/// superuser, able to run programs as whoever started it. As root it runs as the `postgres`
/// user (PostgreSQL refuses to run as root). `stop()` stops it and deletes the folder.
final class ThrowawayPostgres: Sendable {
    let folder: URL
    let port: Int
    /// `initdb`, `pg_ctl` and `postgres` live here.
    let binaries: URL
    private let runAs: String?
    private let stopped = Mutex(false)

    /// The port names the socket file (`.s.PGSQL.PORT`); nothing listens on it over TCP.
    var conninfo: String { "postgresql://postgres@/postgres?host=\(socket.path)&port=\(port)" }
    var socket: URL { folder.appending(path: "socket") }
    var data: URL { folder.appending(path: "data") }
    private var commandLog: URL { folder.appending(path: "commands.log") }
    private var serverLog: URL { folder.appending(path: "server.log") }

    private init(folder: URL, port: Int, binaries: URL, runAs: String?) {
        self.folder = folder
        self.port = port
        self.binaries = binaries
        self.runAs = runAs
    }

    /// Creates the folder, runs `initdb` and starts the server; on failure nothing is left behind.
    static func start() throws -> ThrowawayPostgres {
        let binaries = try findBinaries()
        var template = Array(URL(fileURLWithPath: NSTemporaryDirectory()).appending(path: "b24outbox-demo.XXXXXX").path.utf8CString)
        guard let created = mkdtemp(&template) else { throw DemoError("cannot create a temporary folder for PostgreSQL") }
        let folder = URL(fileURLWithPath: String(cString: created))
        var cluster: ThrowawayPostgres?
        do {
            let runAs = geteuid() == 0 ? "postgres" : nil
            try FileManager.default.createDirectory(
                at: folder.appending(path: "socket"), withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            _ = FileManager.default.createFile(atPath: folder.appending(path: "commands.log").path, contents: nil)
            if let runAs { try handOver(folder, to: runAs) }
            for attempt in 1...5 {
                let candidate = ThrowawayPostgres(folder: folder, port: try freeLoopbackPort(), binaries: binaries, runAs: runAs)
                cluster = candidate
                if attempt == 1 {
                    try candidate.require(candidate.execute("initdb", [
                        "-D", candidate.data.path, "-U", "postgres", "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--no-sync",
                    ]), "initdb")
                }
                let started = try candidate.execute("pg_ctl", [
                    "-D", candidate.data.path, "-l", candidate.serverLog.path, "-w", "-t", "30", "start", "-o",
                    "-p \(candidate.port) -k \(candidate.socket.path) -c listen_addresses= -c unix_socket_permissions=0700 "
                        + "-c fsync=off -c synchronous_commit=off -c max_connections=100",
                ])
                if started == 0 { return candidate }
            }
            try cluster?.require(1, "pg_ctl start")
            throw DemoError("PostgreSQL did not start")
        } catch {
            if let cluster { cluster.stop() } else { try? FileManager.default.removeItem(at: folder) }
            throw error
        }
    }

    /// Stops the server (immediately: the data is thrown away) and deletes the folder. Safe to
    /// call more than once and from any thread.
    func stop() {
        guard stopped.withLock({ done in defer { done = true }; return !done }) else { return }
        let pidFile = data.appending(path: "postmaster.pid")
        if FileManager.default.fileExists(atPath: pidFile.path),
           (try? execute("pg_ctl", ["-D", data.path, "-m", "immediate", "-w", "-t", "20", "stop"])) != 0,
           let text = try? String(contentsOf: pidFile, encoding: .utf8),
           let pid = text.split(separator: "\n").first.flatMap({ Int32($0) }), pid > 0
        {
            // pg_ctl could not stop it: end the server this cluster started, by its own pid.
            kill(pid, SIGQUIT)
            Thread.sleep(forTimeInterval: 0.5)
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when root) and returns its exit status;
    /// its output goes to the folder's `commands.log`.
    private func execute(_ program: String, _ arguments: [String]) throws -> Int32 {
        let executable = binaries.appending(path: program).path
        if let runAs {
            let runuser = try Self.locate("runuser", in: ["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
            return try ChildProcess(executable: runuser, arguments: ["-u", runAs, "--", executable] + arguments,
                                    output: commandLog.path).wait().status
        }
        return try ChildProcess(executable: executable, arguments: arguments, output: commandLog.path).wait().status
    }
    /// Throws with what the programs and the server said when `status` is not 0.
    private func require(_ status: Int32, _ what: String) throws {
        guard status != 0 else { return }
        let said = [commandLog, serverLog].compactMap { try? String(contentsOf: $0, encoding: .utf8) }
            .joined(separator: "\n").split(separator: "\n").suffix(15).joined(separator: "\n")
        throw DemoError("\(what) failed (exit status \(status)); PostgreSQL said:\n\(said)")
    }

    /// The newest server installation: /usr/lib/postgresql/N/bin (Debian), else `initdb` on PATH.
    private static func findBinaries() throws -> URL {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .filter { FileManager.default.isExecutableFile(atPath: "\(root)/\($0)/bin/initdb") }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        if let newest = versions.last { return URL(fileURLWithPath: "\(root)/\(newest)/bin") }
        let path = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map(String.init) ?? []
        if let found = try? locate("initdb", in: path) { return URL(fileURLWithPath: found).deletingLastPathComponent() }
        throw DemoError("""
            PostgreSQL's server programs (initdb, pg_ctl) are not installed. Install them \
            (scripts/demo.sh does: apt-get install postgresql), or give the demo a database with \
            --database-url or DATABASE_URL.
            """)
    }

    private static func locate(_ program: String, in directories: [String]) throws -> String {
        for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(program)") {
            return "\(directory)/\(program)"
        }
        throw DemoError("\(program) was not found in \(directories.joined(separator: ":"))")
    }

    /// Gives the folder to `user`, who runs the server.
    private static func handOver(_ folder: URL, to user: String) throws {
        guard let entry = getpwnam(user) else {
            throw DemoError("""
                as root, PostgreSQL must run as the user \(user), which does not exist: install PostgreSQL \
                with apt (it creates the user), or run the demo as an ordinary user
                """)
        }
        let (uid, gid) = (entry.pointee.pw_uid, entry.pointee.pw_gid)
        for path in [folder.path, folder.appending(path: "socket").path, folder.appending(path: "commands.log").path] {
            guard chown(path, uid, gid) == 0 else { throw DemoError("cannot give \(path) to \(user): \(String(cString: strerror(errno)))") }
        }
    }
}
