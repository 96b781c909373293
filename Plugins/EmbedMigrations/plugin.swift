import Foundation
import PackagePlugin

/// Turns the package's SQL into Swift source for the target, so the binary carries the exact
/// SQL it was built with and needs no files at run time:
/// - `sql/NNN_*.sql`, the numbered migrations, as `embeddedMigrations`;
/// - `sql/functions/*.sql`, one function each, as `embeddedFunctions`;
/// - every `*.sql` beside the target's Swift files, a query each, as `EmbeddedSQL.<name>`.
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let sqlDirectory = context.package.directoryURL.appending(path: "sql")
        let migrations = try sqlFiles(in: sqlDirectory).filter { $0.lastPathComponent.first?.isNumber == true }
        let functions = try sqlFiles(in: sqlDirectory.appending(path: "functions"))
        let queries = (target as? SourceModuleTarget)?.sourceFiles(withSuffix: "sql").map(\.url)
            .sorted { $0.lastPathComponent < $1.lastPathComponent } ?? []
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedSQL.swift")
        var arguments: [String] = [output.path, "--migrations"]
        arguments += migrations.map(\.path)
        arguments.append("--functions")
        arguments += functions.map(\.path)
        arguments.append("--queries")
        arguments += queries.map(\.path)
        return [
            .buildCommand(
                displayName: "Embedding \(migrations.count) migrations, \(functions.count) functions and \(queries.count) queries",
                executable: try context.tool(named: "EmbedMigrationsTool").url,
                arguments: arguments,
                inputFiles: migrations + functions + queries,
                outputFiles: [output]
            )
        ]
    }

    private func sqlFiles(in directory: URL) throws -> [URL] {
        try FileManager.default
            .contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}
