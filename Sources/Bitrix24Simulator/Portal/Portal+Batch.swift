import Bitrix24Wire
import Foundation

extension Portal {
    static let maxBatchCommands = 50

    /// `batch`: up to 50 `method?query` commands, run in order under the batch's auth, each
    /// with its own outcome. Always HTTP 200 once it runs; empty parts are `[]` (PHP arrays).
    func runBatch(_ call: RESTCall, caller: Caller) -> Reply {
        let commands = Self.commands(call.params["cmd"], order: call.commandOrder)
        guard commands.count <= Self.maxBatchCommands else {
            stats.rejected[PortalError.batchLengthExceeded.code, default: 0] += 1
            return .error(.batchLengthExceeded)
        }
        stats.batches += 1
        let halt = PHPValue.bool(call.params["halt"])
        var results: [(String, JSONValue)] = []
        var errors: [(String, JSONValue)] = []
        var times: [(String, TimeBlock)] = []
        var totals: [(String, Int64)] = []
        var nexts: [(String, Int64)] = []
        var resolved: [String: JSONValue] = [:]

        for (key, command) in commands {
            let started = Date()
            let outcome = runCommand(command, caller: caller, results: resolved)
            switch outcome.result {
            case .success(let value):
                results.append((key, value))
                resolved[key] = value
                times.append((key, TimeBlock(start: started, finish: Date(), processing: outcome.processing)))
                if let page = outcome.page {
                    totals.append((key, page.total))
                    if let next = page.next { nexts.append((key, next)) }
                }
            case .failure(let error):
                errors.append((key, error.body))
                stats.commandErrors[error.code, default: 0] += 1
            }
            if halt, case .failure = outcome.result { break }
        }

        let now = Date()
        let time = TimeBlock(
            start: call.received, finish: now, processing: now.timeIntervalSince(call.received),
            operating: budget.used(by: "batch", now: now), operatingResetAt: budget.resetAt("batch", now: now))
        // Written as JSON text here, each part in command order as PHP keeps it: fifty results
        // and time blocks a call, no dictionaries to build and sort on the way.
        let timeZone = configuration.timeZone
        var json = JSONWriter(capacity: 256 + 256 * results.count)
        json.raw(#"{"result":{"result":"#)
        PHPValue.write(results, into: &json) { value, json in json.write(value) }
        json.raw(#","result_error":"#)
        PHPValue.write(errors, into: &json) { value, json in json.write(value) }
        json.raw(#","result_total":"#)
        PHPValue.write(totals, into: &json) { value, json in json.int(value) }
        json.raw(#","result_next":"#)
        PHPValue.write(nexts, into: &json) { value, json in json.int(value) }
        json.raw(#","result_time":"#)
        PHPValue.write(times, into: &json) { block, json in block.write(into: &json, timeZone: timeZone) }
        json.raw(#"},"time":"#)
        time.write(into: &json, timeZone: timeZone)
        json.raw("}")
        return Reply(status: 200, json: json.bytes)
    }

    private func runCommand(_ command: JSONValue, caller: Caller, results: [String: JSONValue]) -> MethodOutcome {
        guard let text = command.stringValue else { return MethodOutcome(result: .failure(.methodNotFound)) }
        let (methodPart, query) = Self.splitCommand(text)
        var method = methodPart.trimmingWhitespace.lowercased()
        if method.hasSuffix(".json") { method.removeLast(5) }
        if method == "batch" { return MethodOutcome(result: .failure(.batchMethodNotAllowed)) }
        guard let decoded = try? PHPForm.decode(query) else { return MethodOutcome(result: .failure(.malformedBody)) }
        let params = BatchReference.substitute(decoded, results: results)
        return run(method, params: params, caller: caller)
    }

    static func splitCommand(_ text: String) -> (String, String) {
        // Found among the UTF-8 bytes: a search by Character breaks the whole text into graphemes.
        guard let mark = text.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (text, "") }
        return (String(text[..<mark]), String(text[text.utf8.index(after: mark)...]))
    }

    /// The commands in the caller's order: a list keeps its indexes; an object follows the
    /// order seen in the raw request, then any remaining keys sorted.
    static func commands(_ cmd: JSONValue?, order: [String]) -> [(String, JSONValue)] {
        switch cmd {
        case .array(let list):
            return list.enumerated().map { (String($0.offset), $0.element) }
        case .object(let members):
            let known = order.filter { members[$0] != nil }
            var seen = Set<String>()
            let ordered = known.filter { seen.insert($0).inserted }
            let rest = members.keys.filter { !seen.contains($0) }.sorted()
            return (ordered + rest).map { ($0, members[$0]!) }
        default:
            return []
        }
    }
}

/// `$result[key][field]…` in a batch command's parameters: replaced with that part of an
/// earlier command's result, as the portal does.
enum BatchReference {
    /// A command's parameters with each `$result[…]` replaced; the same dictionary, not a copy,
    /// when none refers to an earlier result (the common case).
    static func substitute(_ params: [String: JSONValue], results: [String: JSONValue]) -> [String: JSONValue] {
        guard params.values.contains(where: mentionsResult) else { return params }
        return params.mapValues { substitute($0, results: results) }
    }

    private static func mentionsResult(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s): mentionsResult(s)
        case .array(let items): items.contains(where: mentionsResult)
        case .object(let members): members.values.contains(where: mentionsResult)
        default: false
        }
    }

    static func substitute(_ value: JSONValue, results: [String: JSONValue]) -> JSONValue {
        switch value {
        case .string(let s) where mentionsResult(s):
            return substitute(s, results: results)
        case .array(let items):
            return .array(items.map { substitute($0, results: results) })
        case .object(let members):
            return .object(members.mapValues { substitute($0, results: results) })
        default:
            return value
        }
    }

    private static let marker = Array("$result[".utf8)

    /// Whether `text` holds `$result[`, scanned as bytes: every parameter of every command is checked.
    static func mentionsResult(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            guard bytes.count >= marker.count else { return false }
            var i = 0
            while let dollar = bytes[i...].firstIndex(of: UInt8(ascii: "$")) {
                if dollar + marker.count > bytes.count { return false }
                if marker.indices.allSatisfy({ bytes[dollar + $0] == marker[$0] }) { return true }
                i = dollar + 1
            }
            return false
        }
    }

    private static func substitute(_ text: String, results: [String: JSONValue]) -> JSONValue {
        var output = ""
        var rest = Substring(text)
        while let range = rest.range(of: "$result[") {
            output += rest[..<range.lowerBound]
            var path: [String] = []
            var cursor = rest[rest.index(range.upperBound, offsetBy: -1)...]
            while cursor.first == "[", let close = cursor.firstIndex(of: "]") {
                path.append(String(cursor[cursor.index(after: cursor.startIndex)..<close]))
                cursor = cursor[cursor.index(after: close)...]
            }
            let found = resolve(path, in: results)
            if output.isEmpty, cursor.isEmpty, let found { return found }
            output += found?.stringValue ?? ""
            rest = cursor
        }
        return .string(output + rest)
    }

    private static func resolve(_ path: [String], in results: [String: JSONValue]) -> JSONValue? {
        guard let first = path.first, var value = results[first] else { return nil }
        for segment in path.dropFirst() {
            if let next = value[segment] ?? Int(segment).flatMap({ value[$0] }) {
                value = next
            } else {
                return nil
            }
        }
        return value
    }
}
