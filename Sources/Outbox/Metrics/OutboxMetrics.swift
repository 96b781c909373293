import Bitrix24Wire
import CoreMetrics
import Foundation

/// The service's metrics, recorded through swift-metrics so any backend can collect them
/// (`b24outbox serve` and `run` export them in Prometheus format at `/metrics`).
///
/// Labels hold only bounded values: portal names, outcomes, and event names from a fixed set,
/// never anything a caller chooses.
public struct OutboxMetrics: Sendable {
    public enum Name {
        public static let deliveries = "b24outbox_deliveries_total"
        public static let deliveryLatency = "b24outbox_delivery_latency_seconds"
        public static let rateLimitWaits = "b24outbox_rate_limit_waits_total"
        public static let rateLimitWaitSeconds = "b24outbox_rate_limit_wait_seconds_total"
        public static let inboundEvents = "b24outbox_inbound_events_total"
        public static let intents = "b24outbox_intents"
        public static let queueLag = "b24outbox_queue_lag_seconds"
        public static let databaseUp = "b24outbox_database_up"
        public static let tokenRefreshes = "b24outbox_token_refreshes_total"
    }

    private let factory: any MetricsFactory

    /// - Parameter factory: where metrics go; the process-wide `MetricsSystem` by default.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    /// One intent's delivery attempt ended: `delivered`, `retry`, `dead` or `released`.
    func delivery(_ outcome: DeliveryOutcome, portal: String, enqueuedAt: Date) {
        let label: String
        switch outcome {
        case .delivered:
            label = "delivered"
            Timer(label: Name.deliveryLatency, dimensions: [("portal", portal)], factory: factory)
                .recordSeconds(max(0, Date().timeIntervalSince(enqueuedAt)))
        case .retry: label = "retry"
        case .dead: label = "dead"
        case .released: label = "released"
        }
        Counter(label: Name.deliveries, dimensions: [("portal", portal), ("outcome", label)], factory: factory).increment()
    }

    /// A worker waited for the portal's shared rate-limit bucket.
    func rateLimitWait(_ wait: Duration, portal: String) {
        Counter(label: Name.rateLimitWaits, dimensions: [("portal", portal)], factory: factory).increment()
        FloatingPointCounter(label: Name.rateLimitWaitSeconds, dimensions: [("portal", portal)], factory: factory)
            .increment(by: wait.inSeconds)
    }

    /// A token refresh of a portal ended: `refreshed`; `unanswered` (the answer was lost: the
    /// server may have rotated the pair); `lost` (it had, and the pair is gone); `refused`
    /// (`invalid_grant`); `failed` (not sent, or refused for another reason); `store_failed`
    /// (the new pair is kept in memory and stored again).
    func tokenRefresh(_ outcome: String, portal: String) {
        Counter(label: Name.tokenRefreshes, dimensions: [("portal", portal), ("outcome", outcome)], factory: factory).increment()
    }

    /// Event names that get a label of their own; any other is counted as `other`, so a
    /// sender (even a verified one) cannot grow the label set.
    public static let eventLabels: Set<String> = [
        "ONIMCONNECTORDIALOGFINISH", "ONIMCONNECTORMESSAGEADD", "ONIMCONNECTORMESSAGEUPDATE", "ONIMCONNECTORMESSAGEDELETE",
        "ONIMCONNECTORSTATUSDELETE", "ONIMCONNECTORLINEDELETE", "ONIMBOTMESSAGEADD", "ONIMBOTMESSAGEUPDATE",
        "ONIMBOTMESSAGEDELETE", "ONIMBOTJOINCHAT", "ONIMBOTDELETE", "ONOPENLINEMESSAGEADD", "ONOPENLINEMESSAGEUPDATE",
        "ONOPENLINEMESSAGEDELETE", "ONOPENLINESESSIONSTART", "ONOPENLINESESSIONFINISH", "ONAPPINSTALL", "ONAPPUPDATE",
        "ONAPPUNINSTALL", "ONAPPSUNINSTALL", "ONAPPTEST",
    ]

    /// The label for an event name: itself when known, else `other`.
    public static func eventLabel(_ name: String) -> String {
        eventLabels.contains(name) ? name : "other"
    }

    /// An inbound event was answered. `type` is `eventLabel` of the event name once the sender
    /// is verified, else `unverified`.
    public func inboundEvent(type: String, outcome: String) {
        Counter(label: Name.inboundEvents, dimensions: [("type", type), ("outcome", outcome)], factory: factory).increment()
    }

    /// The state read from the database at scrape time.
    public func databaseState(intentsByStatus: [IntentStatus: Int], queueLag: Double) {
        for status in IntentStatus.allCases {
            Gauge(label: Name.intents, dimensions: [("status", status.rawValue)], factory: factory)
                .record(intentsByStatus[status] ?? 0)
        }
        Gauge(label: Name.queueLag, factory: factory).record(queueLag)
    }

    public func databaseUp(_ up: Bool) {
        Gauge(label: Name.databaseUp, factory: factory).record(up ? 1 : 0)
    }
}
