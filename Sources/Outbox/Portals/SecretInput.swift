import Foundation

/// Reads a secret given to a command without putting it on the command line, where `ps`,
/// `/proc/*/cmdline` and shell history would show it:
///
/// - `@PATH` reads the file at PATH,
/// - `-` reads standard input (one option per run can),
/// - `env:NAME` reads the environment variable NAME,
/// - anything else is the value itself.
///
/// Surrounding whitespace (a file's trailing newline) is dropped. An error names the option and
/// the source, never what was read.
public struct SecretInput {
    /// Larger than any webhook URL or token; a file beyond it is a mistake, not a secret.
    public static let maximumBytes = 64 * 1024

    private let environment: [String: String]
    private let standardInput: () -> Data
    private var standardInputTakenBy: String?

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        standardInput: @escaping () -> Data = { ((try? FileHandle.standardInput.read(upToCount: SecretInput.maximumBytes + 1)) ?? nil) ?? Data() }
    ) {
        self.environment = environment
        self.standardInput = standardInput
    }

    /// The value of `option` (for example "--token"), read from where `argument` points.
    public mutating func read(_ argument: String?, option: String) throws -> String? {
        guard let argument else { return nil }
        let data: Data
        let source: String
        if argument == "-" {
            if let earlier = standardInputTakenBy {
                throw SecretInputError(option: option, message: "standard input is already read for \(earlier); give this one as @FILE or env:NAME")
            }
            standardInputTakenBy = option
            source = "standard input"
            data = standardInput()
        } else if argument.hasPrefix("@") {
            let path = String(argument.dropFirst())
            source = "the file \(path)"
            guard !path.isEmpty else { throw SecretInputError(option: option, message: "@ needs a file path") }
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw SecretInputError(option: option, message: "cannot read the file \(path)")
            }
            defer { try? handle.close() }
            do {
                // nil at the end of the file: an empty file, refused below as empty.
                data = try handle.read(upToCount: Self.maximumBytes + 1) ?? Data()
            } catch {
                throw SecretInputError(option: option, message: "cannot read the file \(path)")
            }
        } else if argument.hasPrefix("env:") {
            let name = String(argument.dropFirst(4))
            source = "the environment variable \(name)"
            guard let value = environment[name] else {
                throw SecretInputError(option: option, message: "the environment variable \(name) is not set")
            }
            data = Data(value.utf8)
        } else {
            source = "the command line"
            data = Data(argument.utf8)
        }
        guard data.count <= Self.maximumBytes else {
            throw SecretInputError(option: option, message: "\(source) holds more than \(Self.maximumBytes) bytes")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SecretInputError(option: option, message: "\(source) is not UTF-8 text")
        }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw SecretInputError(option: option, message: "\(source) is empty") }
        guard !value.contains(where: { $0.isNewline }) else {
            throw SecretInputError(option: option, message: "\(source) holds more than one line")
        }
        return value
    }
}

public struct SecretInputError: Error, CustomStringConvertible {
    public var option: String
    public var message: String
    public var description: String { "\(option): \(message)" }
}
