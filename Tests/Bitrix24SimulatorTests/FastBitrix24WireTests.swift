import Bitrix24Simulator
import Foundation
import Testing

/// A third-party client, the PyPI package fast_bitrix24, talks to the simulator: if the
/// simulator's wire format (URL, JSON batch body, response envelope) were off, it would fail.
///
/// Needs `FAST_BITRIX24_PYTHON`: a python with fast_bitrix24 installed
/// (`python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-fast-bitrix24.txt`). Without it the test is
/// disabled, except under `CI=true`, where a missing interpreter is a failure.
@Suite("third-party client on the wire")
struct FastBitrix24WireTests {
    static let environment = ProcessInfo.processInfo.environment
    static let python = environment["FAST_BITRIX24_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
    static let underCI = environment["CI"]?.lowercased() == "true"

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/fast_bitrix24_send.py")

    @Test(
        "fast_bitrix24 sends 120 im.notify.personal.add calls in batches; all 120 are visible",
        .enabled(
            if: python != nil || underCI,
            "FAST_BITRIX24_PYTHON is not set (python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-fast-bitrix24.txt, then FAST_BITRIX24_PYTHON=.venv/bin/python)"
        ),
        .timeLimit(.minutes(2)))
    func fastBitrix24() async throws {
        guard let python = Self.python else {
            Issue.record("CI=true but FAST_BITRIX24_PYTHON is not set: install fast_bitrix24 in a venv and point the variable at its python")
            return
        }
        try await Simulator.with { sim in
            let run = try await Self.run(python, [Self.script.path, sim.webhookURL.absoluteString, "120"])
            #expect(run.status == 0, "fast_bitrix24 script failed:\n\(run.output)")
            #expect(run.output.contains(#""ids": 120"#), "\(run.output)")

            let state = await sim.snapshot()
            #expect(state.notifications.count == 120)
            #expect(state.batches == 3, "120 calls in batches of 50")
            #expect(state.callsByMethod["im.notify.personal.add"] == 120)
            #expect(state.rejected.isEmpty && state.commandErrors.isEmpty)
            let sample = state.notifications.first { $0.tag == "fast-bitrix24-7" }
            #expect(sample?.message == "fast_bitrix24 notification 7: ünïcode & symbols ?=[]")
            #expect(sample?.userID == 8)
        }
    }

    /// Runs a program to its end (at most 90 s) and returns its status and combined output.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("fast-bitrix24-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + 90) {
                // Our own child only, by its pid.
                if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
            }
        }
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return (status, output)
    }
}
