import CivilDate
import Foundation

/// `timestamptz` in PostgreSQL's ISO text form (`2024-10-09 09:21:07.123456+03`), written in UTC
/// and read with any offset. The connection sets `DateStyle` to ISO so the server writes this form.
enum Timestamp {
    static func format(_ date: Date) -> String {
        var micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        if !micros.isFinite { micros = 0 }
        let total = Int64(micros)
        let seconds = total >= 0 ? total / 1_000_000 : (total - 999_999) / 1_000_000
        let fraction = total - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = CivilDate.date(days: days)
        let year = y > 0 ? pad(y, 4) : pad(1 - y, 4)
        var text = "\(year)-\(pad(m, 2))-\(pad(d, 2)) \(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))+00"
        if y <= 0 { text += " BC" }
        return text
    }

    static func parse(_ text: String) -> Date? {
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        var s = Substring(text)
        var bc = false
        if s.hasSuffix(" BC") {
            bc = true
            s = s.dropLast(3)
        }
        // date part: Y…Y-MM-DD
        guard let dash1 = s.firstIndex(of: "-"), let year = Int64(s[..<dash1]) else { return nil }
        let rest = s[s.index(after: dash1)...]
        let fields = rest.split(separator: " ", maxSplits: 1)
        guard fields.count == 2 else { return nil }
        let md = fields[0].split(separator: "-")
        guard md.count == 2, let month = Int64(md[0]), let day = Int64(md[1]) else { return nil }
        // time part: HH:MM:SS[.ffffff](+|-)HH[:MM[:SS]]
        let time = fields[1]
        guard let signIndex = time.lastIndex(where: { $0 == "+" || $0 == "-" }) else { return nil }
        let clock = time[..<signIndex].split(separator: ":")
        guard clock.count == 3, let hour = Int64(clock[0]), let minute = Int64(clock[1]) else { return nil }
        let secondParts = clock[2].split(separator: ".", maxSplits: 1)
        guard let second = Int64(secondParts[0]) else { return nil }
        var micros: Int64 = 0
        if secondParts.count == 2 {
            let digits = secondParts[1].prefix(6)
            guard let value = Int64(digits) else { return nil }
            micros = value
            for _ in digits.count..<6 { micros *= 10 }
        }
        let offsetFields = time[time.index(after: signIndex)...].split(separator: ":")
        var offset: Int64 = 0
        for (i, field) in offsetFields.enumerated() {
            guard i < 3, let value = Int64(field) else { return nil }
            offset += value * [3600, 60, 1][i]
        }
        if time[signIndex] == "-" { offset = -offset }
        let civilYear = bc ? 1 - year : year
        let days = CivilDate.days(year: civilYear, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
