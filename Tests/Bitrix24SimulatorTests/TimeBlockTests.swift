import Foundation
import Testing

@testable import Bitrix24Simulator

/// The portal's ATOM stamps (`2024-10-09T09:21:07+03:00`) are computed by arithmetic; they must
/// agree with Foundation's calendar for every date and offset.
@Suite struct TimeBlockTests {
    func calendarFormat(_ date: Date, _ zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let offset = zone.secondsFromGMT(for: date)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d%@%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!,
                      c.second!, offset < 0 ? "-" : "+", abs(offset) / 3600, abs(offset) % 3600 / 60)
    }

    @Test func agreesWithTheCalendar() throws {
        let zones = ["UTC", "Europe/Moscow", "America/St_Johns", "Asia/Kolkata", "Pacific/Kiritimati", "America/Los_Angeles"]
            .map { TimeZone(identifier: $0)! }
        var generator = SystemRandomNumberGenerator()
        var dates = [0, -1, 951_782_400, 951_868_799, 1_728_454_867.185, 4_102_444_800, 1_709_164_800]
            .map { Date(timeIntervalSince1970: $0) }
        dates += (0..<2_000).map { _ in Date(timeIntervalSince1970: Double.random(in: 0...4_102_444_800, using: &generator)) }
        for zone in zones {
            for date in dates {
                #expect(TimeBlock.format(date, in: zone) == calendarFormat(date, zone), "\(date.timeIntervalSince1970) in \(zone.identifier)")
            }
        }
    }
}
