/// The portal's request-intensity limit: each request adds one to a level that drains at a
/// constant rate; a request that would lift the level above the capacity is refused.
struct LeakyBucket: Sendable {
    let capacity: Double
    let drainPerSecond: Double
    private var level: Double = 0
    private var updated: ContinuousClock.Instant

    init(capacity: Double, drainPerSecond: Double, now: ContinuousClock.Instant) {
        self.capacity = capacity
        self.drainPerSecond = drainPerSecond
        self.updated = now
    }

    /// Adds one request if it fits; false means "refuse it" (and the level is unchanged,
    /// as a refused request is not counted by the portal).
    mutating func admit(now: ContinuousClock.Instant) -> Bool {
        drain(now: now)
        guard level + 1 <= capacity + 1e-9 else { return false }
        level += 1
        return true
    }

    /// Current level, after draining up to `now`.
    mutating func currentLevel(now: ContinuousClock.Instant) -> Double {
        drain(now: now)
        return level
    }

    private mutating func drain(now: ContinuousClock.Instant) {
        let elapsed = (now - updated).inSeconds
        if elapsed > 0 {
            level = max(0, level - elapsed * drainPerSecond)
            updated = now
        }
    }
}
