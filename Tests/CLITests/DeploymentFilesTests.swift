import Foundation
import Testing
import TestSupport

/// docker-compose.yml cannot be run here (no Docker engine), so at least every command it
/// names must be one the CLI has.
struct DeploymentFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test func composeNamesOnlyExistingCommands() throws {
        let compose = try String(contentsOf: Self.root.appendingPathComponent("docker-compose.yml"), encoding: .utf8)
        let commands = compose.split(separator: "\n")
            .compactMap { line -> String? in
                guard let range = line.range(of: "command: [\"") else { return nil }
                return String(line[range.upperBound...].prefix { $0 != "\"" })
            }
        #expect(commands.contains("migrate"))
        let help = try CLI.run(["--help"])
        let subcommands = help.stdout.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        for command in commands {
            #expect(subcommands.contains("  \(command) "), "docker-compose.yml runs '\(command)', which b24outbox lacks")
        }
    }
}
