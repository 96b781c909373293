import Foundation
import Postgres
import Testing
import TestSupport

/// The throw-away cluster of scripts/test.sh and the demo must not be a superuser login for
/// every local user: no TCP, a socket directory only its owner can enter, host lines rejected.
@Suite("Throw-away PostgreSQL")
struct ThrowawayClusterTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the script's cluster listens on no TCP port and keeps its socket directory private",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/lib/postgresql") || TestEnvironment.isCI))
    func scriptCluster() async throws {
        // Starting a cluster blocks for a while: on a thread of its own, not the pool's.
        let cluster = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ScriptCluster, Error>) in
            Thread.detachNewThread { continuation.resume(with: Result { try ScriptCluster.start(in: Self.root) }) }
        }
        defer { cluster.stop() }
        #expect(!cluster.url.contains("127.0.0.1") && cluster.url.contains("host=/"))
        #expect(cluster.socketMode == "700")

        let db = try Connection(cluster.url)
        #expect(try db.query("SHOW listen_addresses").first!.decode(0, as: String.self) == "")
        #expect(try db.query("SHOW unix_socket_permissions").first!.decode(0, as: String.self) == "0700")
        let hostRules = try db.query("SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type LIKE 'host%'")
            .map { try $0.decode(0, as: String.self) }
        #expect(hostRules == ["reject"])
        for host in ["127.0.0.1", "::1"] {
            #expect(throws: PostgresError.self, "nothing on \(host):\(cluster.port)") {
                _ = try Connection("host=\(host) port=\(cluster.port) user=postgres dbname=postgres connect_timeout=5")
            }
        }
    }
}

/// scripts/lib/postgres.sh's cluster, kept running until `stop()` closes the script's input.
final class ScriptCluster: @unchecked Sendable {
    let process: Process
    let input: Pipe
    let url: String, port: String, socketMode: String

    private init(process: Process, input: Pipe, lines: [String]) {
        self.process = process
        self.input = input
        (url, port, socketMode) = (lines[0], lines[1], lines[2])
    }

    static func start(in root: URL) throws -> ScriptCluster {
        let script = """
            set -euo pipefail
            source scripts/lib/postgres.sh
            start_throwaway_postgres
            trap stop_throwaway_postgres EXIT
            echo "$THROWAWAY_DATABASE_URL"
            echo "$THROWAWAY_PORT"
            stat -c %a "$THROWAWAY_DIR/socket"
            cat >/dev/null
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script]
        process.currentDirectoryURL = root
        let out = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardInput = input
        try process.run()
        var lines: [String] = [], buffer = Data()
        while lines.count < 3 {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer += chunk
            lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        let cluster = ScriptCluster(process: process, input: input, lines: lines + ["", "", ""])
        guard lines.count >= 3 else {
            cluster.stop()
            throw ScratchDatabaseError(description: "the script printed \(lines), not a cluster")
        }
        return cluster
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
