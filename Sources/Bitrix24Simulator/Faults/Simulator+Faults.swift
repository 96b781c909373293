extension Simulator {
    /// Seeded fault injection for REST requests (never for `/oauth` or `/_sim`).
    ///
    /// Each REST request draws once from a generator seeded with `seed`, so a run of
    /// sequential requests sees the same faults every time. Rates are probabilities per
    /// request; their sum must not exceed 1.
    public struct Faults: Sendable {
        /// Refuse before doing anything (see `beforeEffectStyle`). Nothing is stored.
        public var failBefore: Double = 0
        /// Answer 500 `INTERNAL_SERVER_ERROR` after the effect was stored (ambiguous failure).
        public var failAfter: Double = 0
        /// Close the connection without any response after the effect was stored.
        public var dropAfter: Double = 0
        /// Answer a proxy's HTML "502 Bad Gateway" page (text/html). Nothing is stored:
        /// the proxy never reached the portal.
        public var html502: Double = 0
        /// Store the effect, then answer only after `slowDelay` (longer than a client's
        /// timeout, so the client sees a timeout although the call went through).
        public var slow: Double = 0
        /// Seed of the fault generator.
        public var seed: UInt64 = 1
        /// Delay of a slow response.
        public var slowDelay: Duration = .seconds(30)
        /// How a before-effect failure looks to the client.
        public var beforeEffectStyle: BeforeEffectStyle = .internalServerError

        public init() {}

        /// True when any rate is non-zero.
        public var isEnabled: Bool { failBefore + failAfter + dropAfter + html502 + slow > 0 }
    }

    /// What a client sees for a failure that happened before the portal did anything.
    public enum BeforeEffectStyle: String, Sendable, CaseIterable {
        /// HTTP 500 `INTERNAL_SERVER_ERROR`: what a portal answers when it fails early. The client
        /// cannot tell it from a failure after the effect, exactly as with a real portal.
        case internalServerError
        /// The connection is closed before the request is read (a reset; no response).
        case closeConnection
    }

    /// The kinds of injected fault, as counted in the inspection state.
    public enum Fault: String, Sendable, CaseIterable, Codable {
        case failBefore, failAfter, dropAfter, html502, slow

        /// Whether the portal ran the call before this fault showed.
        public var afterEffect: Bool {
            switch self {
            case .failBefore, .html502: return false
            case .failAfter, .dropAfter, .slow: return true
            }
        }
    }
}

/// SplitMix64: a tiny, well-distributed generator whose whole state is one seed, so fault
/// sequences are reproducible across runs and platforms.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Draws the fault (or none) for each request.
struct FaultPlan: Sendable {
    let faults: Simulator.Faults
    private var generator: SeededGenerator

    init(_ faults: Simulator.Faults) {
        precondition(
            faults.failBefore + faults.failAfter + faults.dropAfter + faults.html502 + faults.slow <= 1.000_001,
            "fault rates add up to more than 1"
        )
        self.faults = faults
        self.generator = SeededGenerator(seed: faults.seed)
    }

    /// One uniform draw per request, split into consecutive ranges, one per kind.
    mutating func draw() -> Simulator.Fault? {
        guard faults.isEnabled else { return nil }
        let u = Double(generator.next() >> 11) / Double(1 << 53)
        var edge = 0.0
        for (kind, rate) in [
            (Simulator.Fault.failBefore, faults.failBefore), (.html502, faults.html502),
            (.failAfter, faults.failAfter), (.dropAfter, faults.dropAfter), (.slow, faults.slow),
        ] {
            edge += rate
            if u < edge { return kind }
        }
        return nil
    }
}
