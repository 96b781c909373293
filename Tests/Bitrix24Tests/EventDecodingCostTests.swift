import Bitrix24Wire
import Foundation
import Testing

@testable import Bitrix24

/// What a stranger's body costs before its sender is even checked. Time is this thread's CPU
/// time (a loaded machine slows the wall clock, not this), the least of several runs, and only
/// ever compared with another measurement made the same way: no absolute figure is asserted.
@Suite struct EventDecodingCostTests {
    /// Bodies of one shape, `pairs` pairs long.
    enum Shape: String, CaseIterable, CustomStringConvertible {
        case appends, nestedAppends, distinctKeys, deepKeys, deepAppends, sameKeyOverwritten, wideGroup

        var description: String { rawValue }

        /// The first body of this shape at least `bytes` long.
        func body(bytes: Int) -> String {
            let pairSize = body(pairs: 64).utf8.count / 64 + 1
            return body(pairs: bytes / pairSize + 1)
        }

        func body(pairs: Int) -> String {
            var parts: [String] = []
            parts.reserveCapacity(pairs)
            let deep = String(repeating: "[x]", count: PHPForm.maxDepth - 1)
            for i in 0..<pairs {
                switch self {
                case .appends: parts.append("a[]=1")
                case .nestedAppends: parts.append("a[b][c][]=1")
                case .distinctKeys: parts.append("k\(i)=1")
                case .deepKeys: parts.append("a\(deep)[\(i)]=1")
                case .deepAppends: parts.append("a" + String(repeating: "[]", count: PHPForm.maxDepth) + "=1")
                case .sameKeyOverwritten: parts.append("a[b]=\(i)")
                case .wideGroup: parts.append("a[\(i)]=1&a[]=2")
                }
            }
            return parts.joined(separator: "&")
        }
    }

    static func cpuSeconds(runs: Int = 3, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<runs {
            var start = timespec(), end = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
            body()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
            best = min(best, Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9)
        }
        return best
    }

    static let unlimited = PHPForm.Limits(maxPairs: .max)

    @Test("decoding is linear in the body for every shape: four times the body costs about four times as much", arguments: Shape.allCases)
    func linear(shape: Shape) throws {
        let small = shape.body(bytes: 48 << 10), large = shape.body(bytes: 192 << 10)
        // Sanity: the shape decodes (so the measurement is of work done, not of a refusal).
        _ = try PHPForm.decode(small, limits: Self.unlimited)
        let smallCost = Self.cpuSeconds { _ = try? PHPForm.decode(small, limits: Self.unlimited) }
        let largeCost = Self.cpuSeconds { _ = try? PHPForm.decode(large, limits: Self.unlimited) }
        // Linear gives 4; the quadratic decoder gave 16. 8 leaves room for caches and allocators.
        #expect(largeCost / smallCost < 8, "\(shape): \(smallCost) s for 48 KiB, \(largeCost) s for 192 KiB")
    }

    /// A genuine ONIMCONNECTORDIALOGFINISH event, its data padded with one long text to `bytes`.
    static func realEvent(bytes: Int) -> String {
        let head = "event=ONIMCONNECTORDIALOGFINISH&event_handler_id=7&data[CONNECTOR]=x&data[LINE]=105"
            + "&data[DATA][0][session][id]=3282&data[DATA][0][chat][id]=2910&data[DATA][0][user][id]=1"
            + "&ts=1714649632&auth[domain]=example.bitrix24.com&auth[member_id]=m&auth[application_token]=t&data[TEXT]="
        return head + String(repeating: "y", count: max(0, bytes - head.utf8.count))
    }

    /// A genuine event as large as the endpoint takes, and what decoding it costs.
    static let largestRealEvent: (body: String, cost: Double) = {
        let body = realEvent(bytes: 1 << 20)
        return (body, cpuSeconds { _ = try? Bitrix24Event(formBody: body) })
    }()

    @Test("a hostile body of 1 MiB is refused at no more cost than a genuine event of that size", arguments: Shape.allCases)
    func refusedCheaply(shape: Shape) throws {
        let hostile = shape.body(bytes: 1 << 20)
        #expect(throws: Bitrix24Event.DecodingError.self) { try Bitrix24Event(formBody: hostile) }
        let hostileCost = Self.cpuSeconds(runs: 2) { _ = try? Bitrix24Event(formBody: hostile) }
        let real = Self.largestRealEvent
        // About 0.1 to 0.5 of it in a debug build: the refusal comes after 1,000 pairs.
        #expect(hostileCost < real.cost * 2 + 0.001, "\(shape): \(hostileCost) s; a real event: \(real.cost) s")
    }

    @Test("the worst body the limits accept costs a bounded multiple of a real event of its size")
    func worstAccepted() throws {
        // Chains of 64 new groups, as many as the 10,000 keys allow: the most the decoder can be
        // made to build.
        let limits = Bitrix24Event.defaultLimits
        let worst = Shape.deepAppends.body(pairs: (limits.maxKeys - 10) / (PHPForm.maxDepth + 1))
            + "&event=X&auth[member_id]=m&auth[application_token]=t"
        let event = try Bitrix24Event(formBody: worst)
        #expect(event.event == "X")
        let real = Self.realEvent(bytes: worst.utf8.count)
        let worstCost = Self.cpuSeconds(runs: 2) { _ = try? Bitrix24Event(formBody: worst) }
        let realCost = Self.cpuSeconds(runs: 2) { _ = try? Bitrix24Event(formBody: real) }
        // About 7 to 15 times in a debug build: 10,000 groups against one long value.
        #expect(worstCost < realCost * 60, "\(worstCost) s for \(worst.utf8.count) bytes; a real event \(realCost) s")
        // And no more than the largest genuine event the endpoint accepts.
        #expect(worstCost < Self.largestRealEvent.cost * 2, "\(worstCost) s; a real event of 1 MiB: \(Self.largestRealEvent.cost) s")
    }

    @Test("a hostile JSON body of 1 MiB is refused while it is parsed, at no more cost than a genuine event", arguments: [
        #"{"event":"X","data":["# + Array(repeating: #"{"a":0}"#, count: 130_000).joined(separator: ",") + "]}",
        #"{"event":"X","data":["# + Array(repeating: String(repeating: "[", count: 60) + "1" + String(repeating: "]", count: 60), count: 8_500).joined(separator: ",") + "]}",
        #"{"event":"X","data":{"# + (0..<80_000).map { #""k\#($0)":1"# }.joined(separator: ",") + "}}",
    ])
    func hostileJSON(body: String) throws {
        let bytes = Data(body.utf8)
        #expect(bytes.count > 500_000 && bytes.count <= 1 << 20)
        #expect(throws: Bitrix24Event.DecodingError.self) { try Bitrix24Event(jsonBody: bytes) }
        let cost = Self.cpuSeconds(runs: 2) { _ = try? Bitrix24Event(jsonBody: bytes) }
        #expect(cost < Self.largestRealEvent.cost * 2 + 0.001, "\(cost) s; a real event: \(Self.largestRealEvent.cost) s")
    }

    @Test("more fields than the limit is its own refusal (413 at the endpoint), for forms and JSON alike")
    func tooManyFields() throws {
        let limit = Bitrix24Event.defaultLimits.maxPairs
        let form = "event=X&" + Shape.distinctKeys.body(pairs: limit)
        #expect(throws: Bitrix24Event.DecodingError("more than \(limit) fields", code: .tooManyFields)) {
            try Bitrix24Event(formBody: form)
        }
        let json = #"{"event":"X","data":["# + Array(repeating: "1", count: limit).joined(separator: ",") + "]}"
        #expect(throws: Bitrix24Event.DecodingError("more than \(limit) fields", code: .tooManyFields)) {
            try Bitrix24Event(jsonBody: Data(json.utf8))
        }
        let atTheLimit = "event=X&" + Shape.distinctKeys.body(pairs: limit - 1)
        #expect(try Bitrix24Event(formBody: atTheLimit).fields.count == limit)
        let deepJSON = #"{"event":"X","data":"# + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}"
        #expect(throws: Bitrix24Event.DecodingError.self) { try Bitrix24Event(jsonBody: Data(deepJSON.utf8)) }
        // Few pairs, many keys: 200 chains of 64 groups is 12,800 keys, over the 10,000.
        let manyKeys = "event=X&" + Shape.deepAppends.body(pairs: 200)
        #expect(throws: Bitrix24Event.DecodingError("more keys than a form may have", code: .tooManyFields)) {
            try Bitrix24Event(formBody: manyKeys)
        }
    }

    @Test("an index at the end of the integers cannot be appended after, and is refused instead of crashing")
    func appendAfterTheLastIndex() throws {
        #expect(try PHPForm.decode("a[9223372036854775807]=1")["a"] == ["9223372036854775807": "1"])
        #expect(throws: PHPForm.DecodingError.self) { try PHPForm.decode("a[9223372036854775807]=1&a[]=2") }
        #expect(try PHPForm.decode("a[5]=x&a[]=y")["a"] == ["5": "x", "6": "y"])
        #expect(try PHPForm.decode("a[-3]=x&a[]=y")["a"] == ["-3": "x", "-2": "y"], "as PHP 8.3 and later")
    }
}
