/// REST requests parked before the portal runs them, so a test can stop a client between two
/// calls (after "stored", before "cleared") and decide whether the parked call ever happens.
struct CallHolds: Sendable {
    /// What becomes of a parked request.
    enum Outcome: Sendable {
        /// The portal runs it as if it had just arrived.
        case run
        /// The connection is closed without an answer; the portal never sees the call.
        case drop
    }

    private struct Parked: Sendable {
        var method: String
        var continuation: CheckedContinuation<Outcome, Never>
    }

    /// The name that holds refreshes at the OAuth server's token endpoint.
    static let tokenEndpoint = "oauth.token"

    /// Methods whose requests are parked from now on.
    private(set) var methods: Set<String> = []
    private var parked: [Parked] = []

    mutating func hold(_ method: String) { methods.insert(Self.normalized(method)) }

    func holds(_ method: String) -> Bool { methods.contains(Self.normalized(method)) }

    mutating func park(_ method: String, _ continuation: CheckedContinuation<Outcome, Never>) {
        parked.append(Parked(method: Self.normalized(method), continuation: continuation))
    }

    func count(for method: String) -> Int {
        let method = Self.normalized(method)
        return parked.count { $0.method == method }
    }

    /// Stops holding and ends every parked request with `outcome`.
    mutating func end(_ outcome: Outcome) {
        methods = []
        let ending = parked
        parked = []
        for request in ending { request.continuation.resume(returning: outcome) }
    }

    /// Method names as the parser leaves them: lower case, no `.json`.
    private static func normalized(_ method: String) -> String {
        var name = method.lowercased()
        if name.hasSuffix(".json") { name.removeLast(5) }
        return name
    }
}

extension Portal {
    /// Parks a request while its method is held; returns once a test releases or drops it.
    func waitIfHeld(_ method: String) async -> CallHolds.Outcome {
        guard holds.holds(method) else { return .run }
        return await withCheckedContinuation { holds.park(method, $0) }
    }

    func hold(_ method: String) { holds.hold(method) }
    func heldCallCount(_ method: String) -> Int { holds.count(for: method) }
    func endHeldCalls(_ outcome: CallHolds.Outcome) { holds.end(outcome) }
}
