import Foundation
import Outbox

/// A failure explained for the person at the terminal: printed as `Error: …`, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Turns the domain's refusals into clean command-line errors.
func userFacing<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as PortalStore.PortalError {
        throw CLIError(error.description)
    } catch let error as EnqueueError {
        throw CLIError("\(error.description) (nothing was written)")
    }
}

/// `--fields '{"TITLE": "x"}'` or `--fields @chat.json`.
func readJSONArgument(_ text: String, option: String) throws -> Data {
    guard text.hasPrefix("@") else { return Data(text.utf8) }
    let path = String(text.dropFirst())
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError("\(option): cannot read \(path)")
    }
    return data
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
