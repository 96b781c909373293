import Bitrix24Wire
import Foundation

/// The simulated portal's state and rules. One actor, so every request (a whole batch
/// included) sees and changes the state atomically, in arrival order.
actor Portal {
    let configuration: Simulator.Configuration
    var renamedTo: String?
    var users: UserSet

    /// Ids start in different ranges, as on a portal in use, so a client that mixes up a
    /// chat id, a notification id and a user id gets caught.
    static let firstChatID: Int64 = 1001
    static let firstNotificationID: Int64 = 100_001
    var nextNotificationID = Portal.firstNotificationID
    var nextChatID = Portal.firstChatID
    var notifications = NotificationStore()
    var chats = ChatStore()
    var offlineEvents = OfflineEventQueue()
    /// Requests parked before they run (`Simulator.holdCalls(to:)`).
    var holds = CallHolds()
    /// `im.chat.get` answers what no client can read (`Simulator.answerChatLookupsMalformed`).
    var malformedChatLookups = false
    var tokens: TokenStore
    /// Refreshes still to come whose answer is lost after the pair rotated
    /// (`Simulator.loseRefreshAnswers`).
    var refreshAnswersToLose = 0
    var bucket: LeakyBucket?
    var budget: OperatingBudget
    var faultPlan: FaultPlan
    /// Counters; the notification and chat lists are filled only when a snapshot is taken.
    var stats = Simulator.Snapshot()

    init(configuration: Simulator.Configuration) {
        self.configuration = configuration
        let fresh = State(configuration)
        renamedTo = configuration.renamedTo
        users = configuration.users
        tokens = fresh.tokens
        bucket = fresh.bucket
        budget = fresh.budget
        faultPlan = fresh.faultPlan
    }

    /// Back to the state of a fresh start: no data, no counters, initial tokens, fresh
    /// bucket and budgets, the fault generator at its seed.
    func reset() {
        let fresh = Portal.State(configuration)
        nextNotificationID = Portal.firstNotificationID
        nextChatID = Portal.firstChatID
        notifications = NotificationStore()
        chats = ChatStore()
        offlineEvents = OfflineEventQueue()
        holds.end(.drop)
        malformedChatLookups = false
        renamedTo = configuration.renamedTo
        users = configuration.users
        tokens = fresh.tokens
        refreshAnswersToLose = 0
        bucket = fresh.bucket
        budget = fresh.budget
        faultPlan = fresh.faultPlan
        stats = Simulator.Snapshot()
    }

    /// Fresh copies of the parts that depend on the configuration.
    private struct State {
        var tokens: TokenStore
        var bucket: LeakyBucket?
        var budget: OperatingBudget
        var faultPlan: FaultPlan

        init(_ configuration: Simulator.Configuration) {
            tokens = TokenStore(oauth: configuration.oauth, now: Date())
            bucket = configuration.rateLimit.map {
                LeakyBucket(capacity: $0.capacity, drainPerSecond: $0.drainPerSecond, now: .now)
            }
            budget = OperatingBudget(window: configuration.operatingLimit?.window.inSeconds ?? 600)
            faultPlan = FaultPlan(configuration.faults)
        }
    }

    // MARK: Request admission

    /// Counts a REST request and draws its fault.
    func begin() -> Simulator.Fault? {
        stats.requests += 1
        let fault = faultPlan.draw()
        if let fault { stats.faults[fault, default: 0] += 1 }
        return fault
    }

    func countRedirect() { stats.redirects += 1 }

    func countRejection(_ code: String) { stats.rejected[code, default: 0] += 1 }

    /// Runs a REST call: authentication, the request-intensity limit, then the method.
    func execute(_ call: RESTCall) -> Reply {
        let caller: Caller
        switch authenticate(call.credentials) {
        case .success(let c): caller = c
        case .failure(let error): return reject(error)
        }
        if bucket != nil, !bucket!.admit(now: .now) { return reject(.queryLimitExceeded) }

        if call.method == "batch" {
            return runBatch(call, caller: caller)
        }
        let outcome = run(call.method, params: call.params, caller: caller)
        switch outcome.result {
        case .success(let result):
            var body: [String: JSONValue] = [
                "result": result, "time": timeBlock(call, outcome).json(timeZone: configuration.timeZone),
            ]
            if let page = outcome.page {
                body["total"] = .int(page.total)
                if let next = page.next { body["next"] = .int(next) }
            }
            return Reply(status: 200, body: .object(body))
        case .failure(let error):
            stats.rejected[error.code, default: 0] += 1
            var body = error.body
            if error == .operationTimeLimit, case .object(var members) = body {
                members["time"] = timeBlock(call, outcome).json(timeZone: configuration.timeZone)
                body = .object(members)
            }
            return Reply(status: error.status, body: body)
        }
    }

    private func reject(_ error: PortalError) -> Reply {
        stats.rejected[error.code, default: 0] += 1
        return .error(error)
    }

    private func authenticate(_ credentials: Credentials) -> Result<Caller, PortalError> {
        switch credentials {
        case .webhook(let user, let code):
            guard user == String(configuration.webhookUserID), code == configuration.webhookCode else {
                return .failure(.invalidCredentials)
            }
            return .success(Caller(userID: configuration.webhookUserID, clientID: nil))
        case .token(nil), .token(""):
            return .failure(.noAuthFound)
        case .token(let token?):
            switch tokens.check(accessToken: token, now: Date()) {
            case .valid: return .success(Caller(userID: configuration.oauth.userID, clientID: configuration.oauth.clientID))
            case .expired: return .failure(.expiredToken)
            case .unknown: return .failure(.invalidToken)
            }
        }
    }

    /// The time block of a single call, with the method's operating account.
    func timeBlock(_ call: RESTCall, _ outcome: MethodOutcome) -> TimeBlock {
        let now = Date()
        return TimeBlock(
            start: call.received, finish: now, processing: outcome.processing,
            operating: budget.used(by: call.method, now: now),
            operatingResetAt: outcome.blockedUntil ?? budget.resetAt(call.method, now: now))
    }

    // MARK: Inspection

    func snapshot() -> Simulator.Snapshot {
        var snapshot = stats
        snapshot.notifications = notifications.all
        snapshot.chats = chats.all
        snapshot.offlineEventsQueued = offlineEvents.records.count
        snapshot.offlineEventsReserved = offlineEvents.reservedCount
        if bucket != nil { snapshot.bucketLevel = bucket!.currentLevel(now: .now) }
        return snapshot
    }

    func setRenamed(_ name: String?) { renamedTo = name }
    func setMalformedChatLookups(_ on: Bool) { malformedChatLookups = on }
    func setUserActive(_ id: Int64, _ active: Bool) { if active { users.insert(id) } else { users.remove(id) } }
    func currentTokens() -> TokenStore.Issued { tokens.current }
    func expireAccessTokens() { tokens.expireAccessTokens(now: Date()) }
    func revokeRefreshTokens() { tokens.revokeRefreshTokens() }
    func authorizeAgain() -> TokenStore.Issued { tokens.issue(now: Date()) }
    func loseRefreshAnswers(_ count: Int) { refreshAnswersToLose = max(0, count) }

    /// Whether the answer of the refresh that just rotated the pair is lost; counts it.
    func takeLostRefreshAnswer() -> Bool {
        guard refreshAnswersToLose > 0 else { return false }
        refreshAnswersToLose -= 1
        stats.refreshAnswersLost += 1
        return true
    }
}
