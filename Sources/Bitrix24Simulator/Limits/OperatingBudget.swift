import Foundation

/// Operating time per method over a sliding window, as the portal accounts it: each executed
/// call adds its cost; while the sum is over the budget the method is blocked.
struct OperatingBudget: Sendable {
    struct Charge: Sendable {
        var at: Date
        var seconds: Double
    }

    let window: TimeInterval
    private var charges: [String: [Charge]] = [:]

    init(window: TimeInterval) { self.window = window }

    /// Operating seconds `method` used in the window ending at `now`.
    mutating func used(by method: String, now: Date) -> Double {
        expire(method, now: now)
        return charges[method, default: []].reduce(0) { $0 + $1.seconds }
    }

    mutating func charge(_ method: String, seconds: Double, now: Date) {
        charges[method, default: []].append(Charge(at: now, seconds: seconds))
    }

    /// When part of the method's budget is released: the oldest charge leaves the window.
    /// With nothing charged, a full window from now (what portals print for fresh methods).
    mutating func resetAt(_ method: String, now: Date) -> Int64 {
        expire(method, now: now)
        let oldest = charges[method]?.first?.at ?? now
        return Int64((oldest.timeIntervalSince1970 + window).rounded(.up))
    }

    /// When a blocked method becomes usable: the time at which enough charges have left the
    /// window for the sum to drop below the budget.
    mutating func unblockAt(_ method: String, budget: Double, now: Date) -> Int64 {
        expire(method, now: now)
        var remaining = used(by: method, now: now)
        for charge in charges[method, default: []] {
            remaining -= charge.seconds
            if remaining < budget {
                return Int64((charge.at.timeIntervalSince1970 + window).rounded(.up))
            }
        }
        return Int64((now.timeIntervalSince1970 + window).rounded(.up))
    }

    private mutating func expire(_ method: String, now: Date) {
        guard var list = charges[method] else { return }
        let cutoff = now.addingTimeInterval(-window)
        list.removeAll { $0.at <= cutoff }
        charges[method] = list
    }
}
