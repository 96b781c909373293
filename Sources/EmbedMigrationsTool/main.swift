import Foundation

// Usage: EmbedMigrationsTool OUTPUT.swift FILE.sql...
// Writes `let embeddedMigrations: [(name: String, sql: String)]`, one entry per file, in order.
let arguments = CommandLine.arguments.dropFirst()
guard let outputPath = arguments.first else {
    FileHandle.standardError.write(Data("usage: EmbedMigrationsTool OUTPUT FILE...\n".utf8))
    exit(2)
}

var source = "// Generated from sql/*.sql at build time. Do not edit.\n"
source += "let embeddedMigrations: [(name: String, sql: String)] = [\n"
for path in arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    let sql = try String(contentsOf: url, encoding: .utf8)
    // A raw string whose delimiter is longer than any run of '#' in the file cannot be closed early.
    var hashes = "#"
    while sql.contains("\"" + hashes) || sql.contains(hashes + "\"") { hashes += "#" }
    source += "    (name: \(hashes)\"\(url.lastPathComponent)\"\(hashes), sql: \(hashes)\"\"\"\n"
    source += sql
    source += "\n\"\"\"\(hashes)),\n"
}
source += "]\n"

let data = Data(source.utf8)
// Leave the file untouched when nothing changed, so dependent targets do not rebuild.
if (try? Data(contentsOf: URL(fileURLWithPath: outputPath))) != data {
    try data.write(to: URL(fileURLWithPath: outputPath), options: .atomic)
}
