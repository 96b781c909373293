import Bitrix24
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
        var members: [String: JSONValue] = [
            "start": .double(Self.round6(start.timeIntervalSince1970)),
            "finish": .double(Self.round6(finish.timeIntervalSince1970)),
            "duration": .double(finish.timeIntervalSince(start)),
            "processing": .double(processing),
            "date_start": .string(Self.format(start, in: timeZone)),
            "date_finish": .string(Self.format(finish, in: timeZone)),
        ]
        if let operating { members["operating"] = .double(operating) }
        if let operatingResetAt { members["operating_reset_at"] = .int(operatingResetAt) }
        return .object(members)
    }

    /// PHP's `microtime(true)` has microsecond resolution.
    private static func round6(_ value: Double) -> Double { (value * 1_000_000).rounded() / 1_000_000 }

    /// ATOM format, as the portal prints it: `2024-10-09T09:21:07+03:00`.
    static func format(_ date: Date, in timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let offset = timeZone.secondsFromGMT(for: date)
        let sign = offset < 0 ? "-" : "+"
        let hours = abs(offset) / 3600, minutes = abs(offset) % 3600 / 60
        func two(_ n: Int?) -> String { let n = n ?? 0; return n < 10 ? "0\(n)" : "\(n)" }
        return "\(c.year ?? 1970)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute)):\(two(c.second))"
            + "\(sign)\(two(hours)):\(two(minutes))"
    }
}
