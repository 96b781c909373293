import Foundation

/// The `time` block Bitrix24 adds to every answer: when the call ran and how much of the
/// method's operating-time budget it used.
public struct Bitrix24Time: Sendable, Hashable {
    /// Unix seconds with fractions.
    public var start: Double
    public var finish: Double
    /// Seconds from `start` to `finish`.
    public var duration: Double
    /// Seconds the method itself took.
    public var processing: Double?
    /// `date_start` and `date_finish` as sent (ISO 8601 with the portal's offset).
    public var dateStart: String?
    public var dateFinish: String?
    /// Seconds of the 10-minute operating budget used by this method; missing on older portals.
    public var operating: Double?
    /// When the operating budget resets (`operating_reset_at`).
    public var operatingResetAt: Date?
    /// The block exactly as it arrived, for the audit log.
    public var json: JSONValue

    public init(
        start: Double, finish: Double, duration: Double, processing: Double? = nil,
        dateStart: String? = nil, dateFinish: String? = nil, operating: Double? = nil,
        operatingResetAt: Date? = nil
    ) {
        self.start = start
        self.finish = finish
        self.duration = duration
        self.processing = processing
        self.dateStart = dateStart
        self.dateFinish = dateFinish
        self.operating = operating
        self.operatingResetAt = operatingResetAt
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
        self.processing = json["processing"]?.doubleValue
        self.dateStart = json["date_start"]?.stringValue
        self.dateFinish = json["date_finish"]?.stringValue
        self.operating = json["operating"]?.doubleValue
        self.operatingResetAt = Self.operatingResetAt(in: json)
        self.json = json
    }

    /// `operating_reset_at` of a `time` block, read on its own so that an error envelope with a
    /// partial block still yields the reset time.
    static func operatingResetAt(in time: JSONValue?) -> Date? {
        guard let seconds = time?["operating_reset_at"]?.doubleValue, seconds > 0 else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }
}
