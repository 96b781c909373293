import Foundation
import Synchronization

/// The peak resident memory of a running process: the kernel's high-water mark of its own
/// address space (`VmHWM` in /proc/PID/status), read every 10 ms until it exits.
///
/// `wait4`'s `ru_maxrss` would not do: at `exec` Linux folds the parent's resident size into
/// the child's, so it reports the parent.
final class MemoryHighWater: Sendable {
    private let peak = Mutex(0)

    init(watching pid: pid_t) {
        Thread.detachNewThread { [self] in
            // Ends when the process has exited: a zombie's status has no VmHWM line.
            while let kib = Self.highWaterKiB(of: pid) {
                peak.withLock { $0 = max($0, kib * 1024) }
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    /// The highest resident size seen, in bytes (final once the process has exited: it only grows).
    var bytes: Int { peak.withLock { $0 } }

    private static func highWaterKiB(of pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }
}

/// A benchmark could not run, or its result would not be honest (something was not delivered).
public struct BenchError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
