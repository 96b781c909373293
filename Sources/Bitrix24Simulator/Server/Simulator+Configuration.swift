import Foundation

extension Simulator {
    /// Everything that makes one simulated portal what it is. Every field has a default that
    /// matches a fresh cloud portal on a standard plan, so `Configuration()` is a usable portal.
    public struct Configuration: Sendable {
        /// Address to listen on. Loopback by default: the simulator is never meant to face a network.
        public var host: String = "127.0.0.1"
        /// Port to listen on; 0 lets the system pick a free one (read it back from `Simulator.port`).
        public var port: Int = 0

        /// The incoming webhook: `/rest/<webhookUserID>/<webhookCode>/METHOD`.
        public var webhookUserID: Int64 = 1
        /// The webhook's secret code. A fixed test value by default; override it for demos.
        public var webhookCode: String = "simulatorwebhookcode"

        /// The OAuth application installed on the portal.
        public var oauth: OAuth = OAuth()

        /// `member_id` of the portal, as events and token answers carry it.
        public var memberID: String = "a223c6b3710f85df22e9377d6c4f7553"
        /// The portal's domain name, as events carry it (`auth[domain]`).
        public var domain: String = "simulated.bitrix24.test"
        /// Token Bitrix24 puts in every event (`auth[application_token]`).
        public var applicationToken: String = "51856fefc120afa4b628cc82d3935cce"

        /// Users that exist and are active. A notification to anyone else answers `result: false`.
        public var users: UserSet = UserSet(1...1000)

        /// Request intensity limit (leaky bucket per portal); nil disables it.
        public var rateLimit: RateLimit? = RateLimit()
        /// Operating-time budget per method; nil (the default) disables blocking. `operating` is
        /// reported in every time block either way.
        public var operatingLimit: OperatingLimit? = nil

        /// Fixed delay before every REST request is handled (network plus portal latency).
        public var latency: Duration = .zero
        /// Seeded fault injection; all rates zero by default.
        public var faults: Faults = Faults()

        /// When set, the portal has been renamed (to this name): REST calls to `baseURL` answer
        /// 302 with a `Location` at `renamedBaseURL` (same path and query), a second loopback
        /// port standing in for the new host name, where calls are served normally.
        public var renamedTo: String? = nil

        /// Largest serialized ATTACH accepted (`ATTACH_OVERSIZE` above it).
        public var maxAttachCharacters: Int = 60_000
        /// Largest request body read; bigger bodies are refused with 413.
        public var maxBodyBytes: Int = 16 * 1024 * 1024
        /// Time zone of `date_start`/`date_finish` in time blocks.
        public var timeZone: TimeZone = TimeZone(identifier: "Europe/Moscow") ?? .gmt

        public init() {}
    }

    /// The OAuth side: one application, its client credentials and the tokens it starts with.
    public struct OAuth: Sendable {
        public var clientID: String = "local.simulator0000000.00000000"
        public var clientSecret: String = "simulatorclientsecret"
        /// Access token valid from the start (until `accessTokenLifetime` after start).
        public var accessToken: String = "simulatoraccesstoken0000000000000000"
        /// Refresh token valid from the start; dies at its first use.
        public var refreshToken: String = "simulatorrefreshtoken000000000000000"
        /// The user the application acts as (sender of personal notifications).
        public var userID: Int64 = 1
        /// How long an access token lives. Real portals: 3600 s.
        public var accessTokenLifetime: Duration = .seconds(3600)
        /// How long an unused refresh token lives. Real portals: 180 days.
        public var refreshTokenLifetime: Duration = .seconds(180 * 24 * 3600)
        /// `scope` reported by the token endpoint and in events.
        public var scope: String = "im,imopenlines,imconnector"

        public init() {}
    }

    /// Leaky bucket: every request adds one; the level drains continuously; a request that
    /// would overflow is refused with 503 `QUERY_LIMIT_EXCEEDED` before anything runs.
    public struct RateLimit: Sendable {
        /// Requests the bucket holds (standard plans: 50, Enterprise: 250).
        public var capacity: Double = 50
        /// Requests drained per second (standard plans: 2, Enterprise: 5).
        public var drainPerSecond: Double = 2

        public init(capacity: Double = 50, drainPerSecond: Double = 2) {
            self.capacity = capacity
            self.drainPerSecond = drainPerSecond
        }
    }

    /// Operating-time budget: per method, summed over a sliding window; over it the method
    /// answers 429 `OPERATION_TIME_LIMIT` until `operating_reset_at`.
    public struct OperatingLimit: Sendable {
        /// Seconds of operating time a method may use per window (real portals: 480).
        public var budget: Double = 480
        /// Length of the sliding window (real portals: 10 minutes).
        public var window: Duration = .seconds(600)
        /// Simulated operating seconds charged per executed call.
        public var costPerCall: Double = 1
        /// Per-method overrides of `costPerCall`, keyed by lower-case method name.
        public var methodCosts: [String: Double] = [:]

        public init(budget: Double = 480, window: Duration = .seconds(600), costPerCall: Double = 1) {
            self.budget = budget
            self.window = window
            self.costPerCall = costPerCall
        }
    }
}
