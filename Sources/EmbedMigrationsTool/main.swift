import Foundation

// Usage: EmbedMigrationsTool OUTPUT.swift --migrations FILE... --functions FILE... --queries FILE...
// Writes `embeddedMigrations` and `embeddedFunctions` (name and text of each file, in order) and
// `enum EmbeddedSQL` with one constant per query file, named after it (`claim_intents.sql` →
// `EmbeddedSQL.claimIntents`).
var arguments = Array(CommandLine.arguments.dropFirst())
guard !arguments.isEmpty else {
    FileHandle.standardError.write(Data("usage: EmbedMigrationsTool OUTPUT --migrations FILE... --functions FILE... --queries FILE...\n".utf8))
    exit(2)
}
let outputPath = arguments.removeFirst()
var lists: [String: [URL]] = [:]
var current = ""
for argument in arguments {
    if argument.hasPrefix("--") { current = String(argument.dropFirst(2)); lists[current, default: []] = [] }
    else { lists[current, default: []].append(URL(fileURLWithPath: argument)) }
}

/// A raw string literal whose delimiter is longer than any run of '#' in the text, so it cannot be closed early.
func literal(_ text: String) -> String {
    var hashes = "#"
    while text.contains("\"" + hashes) || text.contains(hashes + "\"") { hashes += "#" }
    return "\(hashes)\"\"\"\n\(text)\n\"\"\"\(hashes)"
}

func identifier(_ fileName: String) -> String {
    let words = fileName.replacingOccurrences(of: ".sql", with: "").split(whereSeparator: { !$0.isLetter && !$0.isNumber })
    return words.enumerated().map { $0.offset == 0 ? $0.element.lowercased() : $0.element.prefix(1).uppercased() + $0.element.dropFirst() }.joined()
}

var source = "// Generated from the package's SQL files at build time. Do not edit.\n"
for list in ["migrations", "functions"] {
    source += "let embedded\(list.prefix(1).uppercased() + list.dropFirst()): [(name: String, sql: String)] = [\n"
    for url in lists[list] ?? [] {
        source += "    (name: \(literal(url.lastPathComponent)), sql: \(literal(try String(contentsOf: url, encoding: .utf8)))),\n"
    }
    source += "]\n"
}
source += "/// The queries kept as `.sql` files beside the Swift that runs them.\nenum EmbeddedSQL {\n"
for url in lists["queries"] ?? [] {
    source += "    /// \(url.lastPathComponent)\n"
    source += "    static let \(identifier(url.lastPathComponent)) = \(literal(try String(contentsOf: url, encoding: .utf8)))\n"
}
source += "}\n"

let data = Data(source.utf8)
// Leave the file untouched when nothing changed, so dependent targets do not rebuild.
if (try? Data(contentsOf: URL(fileURLWithPath: outputPath))) != data {
    try data.write(to: URL(fileURLWithPath: outputPath), options: .atomic)
}
