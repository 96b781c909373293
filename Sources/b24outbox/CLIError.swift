import ArgumentParser
import Foundation
import Outbox

/// A failure explained for the person at the terminal: printed as `Error: …`, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }

    /// Runs `body`, turning the domain's refusals into clean command-line errors.
    static func explaining<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PortalStore.PortalError {
            throw CLIError(error.description)
        } catch let error as EnqueueError {
            throw CLIError("\(error.description) (nothing was written)")
        }
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

/// Refuses an option's value outside the range that makes sense, naming the option and the
/// range (a NaN or an infinity is never inside one).
func requireRange<T: Comparable>(_ value: T, _ range: ClosedRange<T>, _ option: String, unit: String = "") throws {
    func text(_ bound: T) -> String {
        // 0.01 stays as it is; 1000000.0 reads as 1000000.
        guard let number = bound as? Double, number.rounded() == number, abs(number) < 1e15 else { return "\(bound)" }
        return String(Int64(number))
    }
    guard range.contains(value) else {
        throw ValidationError("\(option) must be between \(text(range.lowerBound)) and \(text(range.upperBound))\(unit)")
    }
}
