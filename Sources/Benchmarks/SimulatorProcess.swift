import AsyncHTTPClient
import Bitrix24
import Foundation
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

    /// Requests the portal refused with QUERY_LIMIT_EXCEEDED so far.
    func queryLimitExceeded() async throws -> Int {
        Int(try await state()["rejected"]?["QUERY_LIMIT_EXCEEDED"]?.intValue ?? 0)
    }

    func stop() {
        process.stop()
    }
}

/// A port nothing listens on right now (the kernel's pick), for a child to bind.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("cannot open a socket to find a free port") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
        }
    }
    guard bound else { throw BenchError("cannot bind a loopback socket to find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
