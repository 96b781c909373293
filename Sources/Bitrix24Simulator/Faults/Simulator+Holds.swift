extension Simulator {
    /// From now on, REST requests for `method` (a single call, or `batch` for whole batches;
    /// `oauth.token` for refreshes at the token endpoint) wait before the portal sees them,
    /// until `releaseHeldCalls()` or `dropHeldCalls()`.
    public func holdCalls(to method: String) async { await portal.hold(method) }

    /// How many requests for `method` are waiting.
    public func heldCallCount(for method: String) async -> Int { await portal.heldCallCount(method) }

    /// Closes the connection of every waiting request without an answer: the client sees a
    /// transport failure, and the call had no effect (it never reached the portal). Stops holding.
    public func dropHeldCalls() async { await portal.endHeldCalls(.drop) }

    /// Lets every waiting request run normally (in no set order). Stops holding.
    public func releaseHeldCalls() async { await portal.endHeldCalls(.run) }
}
