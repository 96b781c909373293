import Foundation
import Testing

/// Runs the built `b24outbox` binary, as a user would.
public enum CLI {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The executable next to the test bundle (`swift build --build-tests` builds both).
    public static var executableURL: URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("b24outbox")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        // Fall back to the conventional build folder.
        return URL(fileURLWithPath: ".build/debug/b24outbox")
    }

    /// `input` is written to the command's standard input, which is then closed.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], input: String? = nil, extraSecrets: [String] = []
    ) throws -> Output {
        try spawn(arguments, environment: environment, input: input, extraSecrets: extraSecrets).wait()
    }
}

/// A `b24outbox` process running in the background.
public final class RunningCommand: @unchecked Sendable {
    // Touched only by the test that owns it, and by the pipe readers before `group` completes.
    private let process: Process
    private let group = DispatchGroup()
    private var stdoutData = Data()
    private var stderrData = Data()
    private let arguments: [String]
    private let extraSecrets: [String]

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    init(arguments: [String], environment: [String: String], input: String?, extraSecrets: [String]) throws {
        self.arguments = arguments
        self.extraSecrets = extraSecrets
        process = Process()
        process.executableURL = CLI.executableURL
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        DispatchQueue.global().async(group: group) { self.stdoutData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { self.stderrData = err.fileHandleForReading.readDataToEndOfFile() }
    }

    public func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the process to end (killing it after `timeout`) and returns its output.
    public func wait(timeout: Duration = .seconds(180)) -> CLI.Output {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            Issue.record("b24outbox \(arguments.first ?? "") did not finish within \(timeout); killed")
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        group.wait()
        let output = CLI.Output(
            status: process.terminationStatus,
            stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self))
        TestSecrets.expectAbsent(TestSecrets.known + extraSecrets, in: output.stdout + output.stderr,
                                 "the output of b24outbox \(arguments.first ?? "")")
        return output
    }
}

extension CLI {
    public static func spawn(
        _ arguments: [String], environment: [String: String] = [:], input: String? = nil, extraSecrets: [String] = []
    ) throws -> RunningCommand {
        try RunningCommand(arguments: arguments, environment: environment, input: input, extraSecrets: extraSecrets)
    }
}

// Waiting for a process blocks its thread. An async test waits on a thread of its own, so the
// Swift concurrency pool (2 threads on a 2-core machine) stays free to run the in-process
// simulator and servers that the process is talking to.
extension CLI {
    public static func runDetached(
        _ arguments: [String], environment: [String: String] = [:], input: String? = nil, extraSecrets: [String] = []
    ) async throws -> Output {
        try await spawn(arguments, environment: environment, input: input, extraSecrets: extraSecrets).finish()
    }
}

extension RunningCommand {
    public func finish(timeout: Duration = .seconds(180)) async -> CLI.Output {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: self.wait(timeout: timeout)) }
        }
    }
}
