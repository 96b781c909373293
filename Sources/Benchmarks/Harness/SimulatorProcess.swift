import AsyncHTTPClient
import Bitrix24
import Bitrix24Wire
import Foundation
import LocalProcess
import NIOCore

/// `b24outbox simulate` in a process of its own, as the peers see it: the benchmark's HTTP
/// traffic crosses real loopback sockets and the portal's work is not charged to the worker.
final class SimulatorProcess {
    let baseURL: String
    /// The incoming webhook URL; its code is random and never printed.
    let webhookURL: URL
    private let process: ChildProcess

    /// Starts the portal with `options` (e.g. `--no-rate-limit`) and waits until it answers.
    init(executable: String, options: [String], log: String) async throws {
        let port = try freeLoopbackPort()
        let code = (0..<4).map { _ in String(UInt32.random(in: .min ... .max), radix: 36) }.joined()
        baseURL = "http://127.0.0.1:\(port)"
        webhookURL = URL(string: "\(baseURL)/rest/1/\(code)/")!
        process = try ChildProcess(
            executable: executable,
            arguments: ["simulate", "--port", "\(port)", "--webhook-code", code, "--users", "1-1000"] + options,
            environment: ProcessInfo.processInfo.environment, output: log)
        let deadline = ContinuousClock.now + .seconds(30)
        while (try? await state()) == nil {
            if let exit = process.poll() { throw BenchError("the simulator exited with status \(exit.status); see \(log)") }
            guard ContinuousClock.now < deadline else { throw BenchError("the simulator did not start within 30 s; see \(log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// `GET /_sim/state`: what the portal did so far.
    func state() async throws -> JSONValue {
        let request = HTTPClientRequest(url: "\(baseURL)/_sim/state")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        guard response.status == .ok else { throw BenchError("the simulator's state answered \(response.status.code)") }
        let body = try await response.body.collect(upTo: 1 << 30)
        return try JSONValue(jsonData: body.getBytes(at: body.readerIndex, length: body.readableBytes) ?? [])
    }

    /// What the bench counts at the portal, read from one state.
    struct Counts {
        /// Notifications created (a TAG replacement counts too).
        var notificationsCreated: Int
        /// Requests refused with QUERY_LIMIT_EXCEEDED.
        var queryLimitExceeded: Int
    }

    func counts() async throws -> Counts {
        let state = try await state()
        return Counts(
            notificationsCreated: Int(state["effects"]?["notificationsCreated"]?.intValue ?? 0),
            queryLimitExceeded: Int(state["rejected"]?["QUERY_LIMIT_EXCEEDED"]?.intValue ?? 0))
    }

    func stop() {
        process.stop()
    }
}
