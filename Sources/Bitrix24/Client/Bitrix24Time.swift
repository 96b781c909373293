import Bitrix24Wire
import Foundation

/// The `time` block Bitrix24 adds to every answer: when the call ran and how much of the
/// method's operating-time budget it used.
public struct Bitrix24Time: Sendable, Hashable {
    /// Unix seconds with fractions.
    public var start: Double
    public var finish: Double
    /// Seconds from `start` to `finish`.
    public var duration: Double
    /// The block exactly as it arrived, for the audit log. The fields below that not every
    /// answer carries are read from it when asked: a batch brings fifty blocks a call.
    public var json: JSONValue

    /// Seconds the method itself took.
    public var processing: Double? { json["processing"]?.doubleValue }
    /// `date_start` and `date_finish` as sent (ISO 8601 with the portal's offset).
    public var dateStart: String? { json["date_start"]?.stringValue }
    public var dateFinish: String? { json["date_finish"]?.stringValue }
    /// Seconds of the 10-minute operating budget used by this method; missing on older portals.
    public var operating: Double? { json["operating"]?.doubleValue }
    /// When the operating budget resets (`operating_reset_at`).
    public var operatingResetAt: Date? { Self.operatingResetAt(in: json) }

    public init(
        start: Double, finish: Double, duration: Double, processing: Double? = nil,
        dateStart: String? = nil, dateFinish: String? = nil, operating: Double? = nil,
        operatingResetAt: Date? = nil
    ) {
        self.start = start
        self.finish = finish
        self.duration = duration
        var json: [String: JSONValue] = ["start": .double(start), "finish": .double(finish), "duration": .double(duration)]
        json["processing"] = processing.map(JSONValue.double)
        json["date_start"] = dateStart.map(JSONValue.string)
        json["date_finish"] = dateFinish.map(JSONValue.string)
        json["operating"] = operating.map(JSONValue.double)
        json["operating_reset_at"] = operatingResetAt.map { .int(Int64($0.timeIntervalSince1970)) }
        self.json = .object(json)
    }

    /// Reads a `time` block; nil when it is not an object with `start`, `finish` and `duration`.
    /// Numbers given as strings are accepted.
    public init?(json: JSONValue) {
        guard case .object = json,
            let start = json["start"]?.doubleValue,
            let finish = json["finish"]?.doubleValue,
            let duration = json["duration"]?.doubleValue
        else { return nil }
        self.start = start
        self.finish = finish
        self.duration = duration
        self.json = json
    }

    /// How long until the operating budget resets, on the portal's own clock: `operating_reset_at`
    /// minus `finish` of the same block, within 1 s (the reset time is in whole seconds, and a
    /// pause of nothing would retry at once) to the 10-minute window. Nil when either is missing:
    /// the portal's reset time cannot be compared with a clock of ours.
    static func operatingResetIn(in time: JSONValue?) -> Duration? {
        guard let reset = operatingResetAt(in: time)?.timeIntervalSince1970,
              let finish = time?["finish"]?.doubleValue, finish > 0
        else { return nil }
        let seconds = min(max(1, reset - finish), operatingWindow.inSeconds)
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// Bitrix24's operating-time window: a budget resets within it.
    public static let operatingWindow: Duration = .seconds(600)

    /// `operating_reset_at` of a `time` block, read on its own so that an error envelope with a
    /// partial block still yields the reset time.
    static func operatingResetAt(in time: JSONValue?) -> Date? {
        guard let seconds = time?["operating_reset_at"]?.doubleValue, seconds > 0 else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }
}
