import Bitrix24Wire
import Foundation

/// What happened to one command of a batch.
public enum BatchOutcome: Sendable, Hashable {
    case success(JSONValue, Bitrix24Time?)
    case failure(Bitrix24Error)
    /// Bitrix24 reported nothing for the key: a halted batch stopped before it.
    case notExecuted
}

/// The answer to a `batch` call: one outcome per command key, in command order.
public struct BatchResponse: Sendable, Hashable {
    /// The command keys in the order they were sent.
    public var keys: [String]
    public var outcomes: [String: BatchOutcome]
    /// The `time` of the batch request as a whole.
    public var time: Bitrix24Time?
    public var httpStatus: Int
    public var elapsed: Duration
    public var portalMovedTo: URL?

    public subscript(key: String) -> BatchOutcome? { outcomes[key] }

    /// Splits `result` of a batch envelope into per-command outcomes.
    ///
    /// `result.result`, `result.result_error` and `result.result_time` are keyed by command key;
    /// PHP writes an empty part as `[]` and a part whose keys are 0…n-1 as a list, so both lists
    /// and objects are read. A key in neither `result` nor `result_error` was not executed.
    package static func outcomes(of result: JSONValue, commands: [BatchCommand]) -> [String: BatchOutcome] {
        let results = keyed(result["result"])
        let errors = keyed(result["result_error"])
        let times = keyed(result["result_time"])
        var outcomes: [String: BatchOutcome] = [:]
        outcomes.reserveCapacity(commands.count)
        for command in commands {
            let key = command.key
            if let errorJSON = errors[key] {
                outcomes[key] = .failure(commandError(errorJSON, method: command.method))
            } else if let value = results[key] {
                if command.resultFalseIsFailure, value == .bool(false) {
                    outcomes[key] = .failure(.resultFalse(method: command.method))
                } else {
                    outcomes[key] = .success(value, times[key].flatMap(Bitrix24Time.init(json:)))
                }
            } else {
                outcomes[key] = .notExecuted
            }
        }
        return outcomes
    }

    /// A part as a dictionary by key; a list stands for keys "0", "1", …
    private static func keyed(_ part: JSONValue?) -> [String: JSONValue] {
        switch part {
        case .object(let members): return members
        case .array(let items):
            return Dictionary(uniqueKeysWithValues: items.enumerated().map { (String($0.offset), $0.element) })
        default: return [:]
        }
    }

    /// Per-command errors carry no HTTP status of their own.
    private static func commandError(_ json: JSONValue, method: String) -> Bitrix24Error {
        if let error = Bitrix24Response.envelopeError(json, method: method, status: nil) { return error }
        if let code = json.stringValue, !code.isEmpty {
            return Bitrix24Error(code: .init(code), httpStatus: nil, method: method)
        }
        return Bitrix24Error(
            code: .unexpectedAnswer, errorDescription: "the batch reported an error without a code", method: method)
    }
}

extension Bitrix24Error {
    static func resultFalse(method: String) -> Self {
        Bitrix24Error(
            code: .resultFalse,
            errorDescription: "\(method) answered false: the recipient does not exist or is inactive",
            httpStatus: 200, method: method, failureClass: .permanent)
    }
}
