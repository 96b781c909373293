import Bitrix24Wire
import CivilDate
import Foundation

/// The `time` object of every answer: wall-clock stamps of the request, how long the
/// portal worked on it, and the method's operating-time account.
struct TimeBlock: Sendable {
    var start: Date
    var finish: Date
    /// Seconds the method itself ran (less than `duration`, which includes the overhead).
    var processing: Double
    /// Operating seconds the method used in the current window; nil leaves both keys out
    /// (batch sub-results carry no operating keys).
    var operating: Double?
    var operatingResetAt: Int64?

    func json(timeZone: TimeZone) -> JSONValue {
        .object(Dictionary(uniqueKeysWithValues: members(timeZone: timeZone)))
    }

    /// The same block written straight into `json`, its keys in the portal's order: a batch
    /// writes one per command.
    func write(into json: inout JSONWriter, timeZone: TimeZone) {
        json.raw("{")
        for (offset, (key, value)) in members(timeZone: timeZone).enumerated() {
            if offset > 0 { json.raw(",") }
            json.string(key)
            json.raw(":")
            json.write(value)
        }
        json.raw("}")
    }

    /// The block's members in the portal's order: start, finish, duration, processing,
    /// date_start, date_finish, then operating and operating_reset_at where known.
    private func members(timeZone: TimeZone) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [
            ("start", .double(Self.round6(start.timeIntervalSince1970))),
            ("finish", .double(Self.round6(finish.timeIntervalSince1970))),
            ("duration", .double(finish.timeIntervalSince(start))),
            ("processing", .double(processing)),
            ("date_start", .string(Self.format(start, in: timeZone))),
            ("date_finish", .string(Self.format(finish, in: timeZone))),
        ]
        if let operating { members.append(("operating", .double(operating))) }
        if let operatingResetAt { members.append(("operating_reset_at", .int(operatingResetAt))) }
        return members
    }

    /// PHP's `microtime(true)` has microsecond resolution.
    private static func round6(_ value: Double) -> Double { (value * 1_000_000).rounded() / 1_000_000 }

    /// ATOM format, as the portal prints it: `2024-10-09T09:21:07+03:00`.
    static func format(_ date: Date, in timeZone: TimeZone) -> String {
        // Civil time by integer arithmetic (every answer carries two stamps; a Calendar per
        // stamp was the portal's largest cost under load).
        let offset = timeZone.secondsFromGMT(for: date)
        let local = Int64((date.timeIntervalSince1970).rounded(.down)) + Int64(offset)
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondOfDay = local - days * 86_400
        let (year, month, day) = CivilDate.date(days: days)
        // Written as bytes: string interpolation was most of this function's cost.
        var out = [UInt8]()
        out.reserveCapacity(25)
        func digits(_ n: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            if n >= divisor * 10 { out.append(contentsOf: String(n).utf8); return }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(n / divisor % 10))
                divisor /= 10
            }
        }
        if year < 0 { out.append(UInt8(ascii: "-")) }
        digits(abs(year), 1)
        out.append(UInt8(ascii: "-")); digits(month, 2)
        out.append(UInt8(ascii: "-")); digits(day, 2)
        out.append(UInt8(ascii: "T")); digits(secondOfDay / 3600, 2)
        out.append(UInt8(ascii: ":")); digits(secondOfDay % 3600 / 60, 2)
        out.append(UInt8(ascii: ":")); digits(secondOfDay % 60, 2)
        out.append(offset < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
        digits(Int64(abs(offset) / 3600), 2)
        out.append(UInt8(ascii: ":")); digits(Int64(abs(offset) % 3600 / 60), 2)
        return String(decoding: out, as: UTF8.self)
    }
}
