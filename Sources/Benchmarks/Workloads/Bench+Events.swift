import Bitrix24
import Bitrix24Wire
import Foundation

extension Bench {
    /// Bodies a stranger can send to `POST /bitrix24/events`, each as large as the endpoint takes.
    enum HostileBody: String, CaseIterable {
        // Snake case: the report's keys are.
        case appends, nestedAppends = "nested_appends", distinctKeys = "distinct_keys", deepKeys = "deep_keys"
        case deepAppends = "deep_appends", wideGroup = "wide_group"

        func pair(_ index: Int) -> String {
            switch self {
            case .appends: "a[]=1"
            case .nestedAppends: "a[b][c][]=1"
            case .distinctKeys: "k\(index)=1"
            case .deepKeys: "a" + String(repeating: "[x]", count: PHPForm.maxDepth - 1) + "[\(index)]=1"
            case .deepAppends: "a" + String(repeating: "[]", count: PHPForm.maxDepth) + "=1"
            case .wideGroup: "a[\(index)]=1&a[]=2"
            }
        }

        func body(bytes: Int) -> String {
            var text = ""
            var index = 0
            while text.utf8.count < bytes {
                if index > 0 { text += "&" }
                text += pair(index)
                index += 1
            }
            return text
        }
    }

    /// W6: what an event body costs to decode before its sender is checked, hostile or genuine,
    /// at the endpoint's limits (1 MiB, 1,000 fields). The slowest of every shape counts.
    func eventBodyWorkload() -> BenchReport.W6 {
        let size = 1 << 20
        func milliseconds(_ body: String, json: Bool = false) -> Double {
            var best = Double.infinity
            let bytes = Array(body.utf8)
            for _ in 0..<5 {
                let start = ContinuousClock.now
                _ = try? Bitrix24Event(body: bytes, contentType: json ? "application/json" : "application/x-www-form-urlencoded")
                best = min(best, (ContinuousClock.now - start).inSeconds * 1000)
            }
            return best
        }
        var shapes: [String: Double] = [:]
        for shape in HostileBody.allCases {
            progress("W6: \(shape.rawValue)")
            shapes[shape.rawValue] = milliseconds(shape.body(bytes: size))
        }
        // The most the limits let a body build: chains of 64 new groups, up to the 10,000 keys.
        let limits = Bitrix24Event.defaultLimits
        let worst = (0..<((limits.maxKeys - 10) / (PHPForm.maxDepth + 1))).map { HostileBody.deepAppends.pair($0) }
            .joined(separator: "&") + "&event=X&auth[member_id]=m&auth[application_token]=t"
        shapes["worst_accepted"] = milliseconds(worst)
        // JSON: many small objects, and deep chains, parsed until the limits stop them.
        var objects = #"{"event":"X","data":["#
        while objects.utf8.count < size - 16 { objects += #"{"a":0},"# }
        shapes["json_objects"] = milliseconds(objects + "0]}", json: true)
        var chains = #"{"event":"X","data":["#
        let chain = String(repeating: "[", count: 60) + "1" + String(repeating: "]", count: 60) + ","
        while chains.utf8.count < size - 200 { chains += chain }
        shapes["json_chains"] = milliseconds(chains + "0]}", json: true)
        let genuine = "event=ONIMCONNECTORDIALOGFINISH&data[CONNECTOR]=x&data[LINE]=1&data[DATA][0][chat][id]=8"
            + "&auth[member_id]=m&auth[application_token]=t&data[TEXT]=" + String(repeating: "y", count: size - 150)
        return BenchReport.W6(
            bodyBytes: size, maxFields: Bitrix24Event.defaultLimits.maxPairs, milliseconds: shapes,
            slowestMs: shapes.values.max() ?? 0, genuineMs: milliseconds(genuine))
    }
}
