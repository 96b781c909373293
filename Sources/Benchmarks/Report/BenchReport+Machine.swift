import Foundation
import Postgres

extension BenchReport.Machine {
    /// What the figures were measured on, read from the running system.
    static func current(postgres db: Connection) throws -> Self {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n")
            .first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let version: String = try db.query("SHOW server_version").first!.decode(0)
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        return Self(
            cpus: ProcessInfo.processInfo.activeProcessorCount, model: model, kernel: kernel,
            memoryGib: (Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824 * 10).rounded() / 10,
            postgres: version, build: build)
    }
}
