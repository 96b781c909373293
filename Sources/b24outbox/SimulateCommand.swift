import ArgumentParser
import Bitrix24Simulator
import Foundation

/// `b24outbox simulate [run]`: runs a simulated Bitrix24 portal on loopback until SIGINT/SIGTERM;
/// `b24outbox simulate fire dialog-finish`: sends Bitrix24-style events to a handler.
/// `run` is the default, so `b24outbox simulate --port 8931` starts the portal.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a simulated Bitrix24 portal (for tests, the demo and benchmarks).",
        subcommands: [Run.self, Fire.self],
        defaultSubcommand: Run.self)
}

extension SimulateCommand {
    /// `simulate run`: the portal itself.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the simulated portal until SIGINT/SIGTERM (the default of simulate).",
            discussion: """
                The portal answers webhook calls at /rest/USER/CODE/METHOD, OAuth calls at /rest/METHOD,
                token refreshes at /oauth/token/, and shows its state at /_sim/state.
                With --portals N, N portals run in this process, portal-1 at 127.0.0.2, portal-2 at
                127.0.0.3 and on (each on --port, and with secrets and faults of its own; --host is not used).
                """)

        @Option(help: ArgumentHelp("Run this many portals, each at a loopback address of its own.", valueName: "N"))
        var portals: Int?
        @Flag(help: "With --portals: print every portal's addresses and test credentials as JSON.") var json = false

        @Option(help: "Port to listen on (0: any free port).") var port = 8931
        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(name: .customLong("webhook-user"), help: "User id of the incoming webhook.") var webhookUser: Int64 = 1
        @Option(name: .customLong("webhook-code"), help: "Secret code of the incoming webhook (default: the simulator's test code).")
        var webhookCode: String?
        @Option(help: "Leaky bucket capacity, in requests.") var bucket: Double = 50
        @Option(help: "Leaky bucket drain, in requests per second.") var drain: Double = 2
        @Flag(name: .customLong("no-rate-limit"), help: "Disable the request intensity limit.") var noRateLimit = false
        @Option(name: .customLong("operating-budget"), help: "Operating seconds per method per 10 minutes (default: no limit).")
        var operatingBudget: Double?
        @Option(name: .customLong("operating-cost"), help: "Simulated operating seconds per call, with --operating-budget.")
        var operatingCost: Double = 1
        @Option(name: .customLong("latency-ms"), help: "Fixed delay before every REST answer.") var latencyMs = 0
        @Option(name: .customLong("fail-before"), help: "Rate of 500 answers before any effect.") var failBefore: Double = 0
        @Option(name: .customLong("fail-after"), help: "Rate of 500 answers after the effect was stored.") var failAfter: Double = 0
        @Option(name: .customLong("drop-after"), help: "Rate of closed connections after the effect was stored.") var dropAfter: Double = 0
        @Option(name: .customLong("html-502"), help: "Rate of HTML 502 pages (nothing stored).") var html502: Double = 0
        @Option(help: "Rate of answers slower than a client's timeout (effect stored).") var slow: Double = 0
        @Option(name: .customLong("slow-ms"), help: "Delay of a slow answer.") var slowMs = 30_000
        @Option(help: "Seed of the fault generator.") var seed: UInt64 = 1
        @Option(help: "Existing active users, e.g. 1-1000 or 1-10,42.") var users = "1-1000"
        @Option(name: .customLong("renamed-to"), help: "Simulate a renamed portal: REST calls get 302 to the new address (a second port).")
        var renamedTo: String?
        @Option(name: .customLong("client-id"), help: "OAuth client id.") var clientID: String?
        @Option(name: .customLong("client-secret"), help: "OAuth client secret.") var clientSecret: String?
        @Option(name: .customLong("access-token"), help: "Initial OAuth access token.") var accessToken: String?
        @Option(name: .customLong("refresh-token"), help: "Initial OAuth refresh token.") var refreshToken: String?
        @Option(name: .customLong("token-lifetime"), help: "Access token lifetime in seconds.") var tokenLifetime = 3600
        @Option(name: .customLong("member-id"), help: "member_id of the portal.") var memberID: String?
        @Option(help: "Domain name of the portal, as events carry it.") var domain: String?
        @Option(name: .customLong("app-token"), help: "application_token the portal puts in events.") var appToken: String?

        func validate() throws {
            let rates = [failBefore, failAfter, dropAfter, html502, slow]
            guard rates.allSatisfy({ (0...1).contains($0) }) else { throw ValidationError("Fault rates must be between 0 and 1.") }
            guard rates.reduce(0, +) <= 1 else { throw ValidationError("Fault rates must add up to at most 1.") }
            guard UserSet(parsing: users) != nil else { throw ValidationError("--users must look like 1-1000 or 1-10,42.") }
            try requireRange(bucket, 1...1_000_000, "--bucket")
            try requireRange(drain, 0.01...1_000_000, "--drain", unit: " requests per second")
            guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535.") }
            try requireRange(latencyMs, 0...600_000, "--latency-ms")
            try requireRange(slowMs, 0...600_000, "--slow-ms")
            try requireRange(tokenLifetime, 1...31_536_000, "--token-lifetime", unit: " seconds")
            try requireRange(webhookUser, 1...Int64(Int32.max), "--webhook-user")
            if let operatingBudget { try requireRange(operatingBudget, 0.001...86_400, "--operating-budget", unit: " seconds") }
            try requireRange(operatingCost, 0...600, "--operating-cost", unit: " seconds")
            if let portals { try requireRange(portals, 1...SimulatedCloud.portalLimit, "--portals") }
            if json && portals == nil { throw ValidationError("--json needs --portals.") }
            if portals != nil && renamedTo != nil { throw ValidationError("--renamed-to is for one portal, not --portals.") }
        }

        func makeConfiguration() -> Simulator.Configuration {
            var c = Simulator.Configuration()
            c.host = host
            c.port = port
            c.webhookUserID = webhookUser
            if let webhookCode { c.webhookCode = webhookCode }
            c.rateLimit = noRateLimit ? nil : .init(capacity: bucket, drainPerSecond: drain)
            c.operatingLimit = operatingBudget.map { .init(budget: $0, costPerCall: operatingCost) }
            c.latency = .milliseconds(latencyMs)
            c.faults.failBefore = failBefore
            c.faults.failAfter = failAfter
            c.faults.dropAfter = dropAfter
            c.faults.html502 = html502
            c.faults.slow = slow
            c.faults.slowDelay = .milliseconds(slowMs)
            c.faults.seed = seed
            c.users = UserSet(parsing: users) ?? c.users
            c.renamedTo = renamedTo
            if let clientID { c.oauth.clientID = clientID }
            if let clientSecret { c.oauth.clientSecret = clientSecret }
            if let accessToken { c.oauth.accessToken = accessToken }
            if let refreshToken { c.oauth.refreshToken = refreshToken }
            c.oauth.accessTokenLifetime = .seconds(tokenLifetime)
            if let memberID { c.memberID = memberID }
            if let domain { c.domain = domain }
            if let appToken { c.applicationToken = appToken }
            return c
        }

        func run() async throws {
            if let portals { return try await runCloud(portals) }
            let simulator = try await Simulator.start(makeConfiguration(), stopOnSignals: true)
            let c = simulator.configuration
            var banner = """
                Bitrix24 simulator on \(simulator.baseURL.absoluteString) (Ctrl-C to stop)
                  webhook URL:    \(simulator.webhookURL.absoluteString)
                  OAuth REST:     \(simulator.restURL.absoluteString)  (auth=\(c.oauth.accessToken))
                  token endpoint: \(simulator.tokenURL.absoluteString)  (client_id=\(c.oauth.clientID), refresh_token=\(c.oauth.refreshToken))
                  state:          \(simulator.baseURL.absoluteString)/_sim/state
                  after a rename: \(simulator.renamedBaseURL.absoluteString)  (--renamed-to, POST /_sim/rename?to=NAME)
                  rate limit:     \(c.rateLimit.map { "bucket \($0.capacity), drain \($0.drainPerSecond)/s" } ?? "off")

                """
            if c.faults.isEnabled {
                banner += "  faults:         before \(failBefore), after \(failAfter), drop \(dropAfter), html502 \(html502), slow \(slow) (seed \(seed))\n"
            }
            // Unbuffered, so the URLs show at once even when stdout is a pipe or a file.
            FileHandle.standardOutput.write(Data(banner.utf8))
            try await simulator.waitUntilStopped()
            let state = await simulator.snapshot()
            print("Stopped after \(state.requests) requests: \(state.notifications.count) visible notifications, \(state.chats.count) chats.")
        }

        func runCloud(_ count: Int) async throws {
            let cloud = try await SimulatedCloud.start(portals: count, makeConfiguration(), stopOnSignals: true)
            let output: String
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                output = String(decoding: try encoder.encode(cloud.access), as: UTF8.self) + "\n"
            } else {
                let c = cloud.portals[0].configuration
                output = "\(count) simulated Bitrix24 portals (Ctrl-C to stop); rate limit "
                    + (c.rateLimit.map { "bucket \($0.capacity), drain \($0.drainPerSecond)/s each" } ?? "off") + "\n"
                    + cloud.access.map { "  \($0.name)\t\($0.webhookURL)\n" }.joined()
            }
            FileHandle.standardOutput.write(Data(output.utf8))
            try await cloud.waitUntilStopped()
        }
    }
}

extension SimulateCommand {
    /// `simulate fire …`: events a portal sends to applications.
    struct Fire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send Bitrix24 events to an application's handler.", subcommands: [DialogFinish.self])
    }
}

extension SimulateCommand.Fire {
    /// `simulate fire dialog-finish --to URL --app-token T`: ONIMCONNECTORDIALOGFINISH events,
    /// form-encoded with PHP bracket keys, exactly as the portal posts them.
    struct DialogFinish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dialog-finish",
            abstract: "Send ONIMCONNECTORDIALOGFINISH events; exits non-zero unless every one got a 2xx.")

        @Option(help: "Handler URL to POST to.") var to: String
        @Option(name: .customLong("app-token"), help: "auth[application_token] to send.") var appToken: String
        @Option(name: .customLong("member-id"), help: "auth[member_id].") var memberID = Simulator.Configuration().memberID
        @Option(help: "auth[domain].") var domain = Simulator.Configuration().domain
        @Option(name: .customLong("chat-id"), help: "Chat id of the dialog.") var chatID: Int64 = 8
        @Option(name: .customLong("session-id"), help: "Session id of the first event; each next event adds 1.")
        var sessionID: Int64 = 3282
        @Option(help: "Open line id.") var line: Int64 = 105
        @Option(help: "Connector id.") var connector = "newcustomconnector"
        @Option(name: .customLong("event-handler-id"), help: "event_handler_id.") var eventHandlerID: Int64 = 7
        @Option(help: "How many events to send.") var count = 1
        @Option(help: "How many to send at once.") var concurrency = 1
        @Option(help: "Timeout of each POST, in seconds.") var timeout = 10

        func validate() throws {
            guard let url = URL(string: to), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ValidationError("--to must be an http(s) URL.")
            }
            try requireRange(count, 1...10_000_000, "--count")
            // Each next event's session id adds 1: the last must still be an id.
            try requireRange(sessionID, 1...(Int64.max - 10_000_000), "--session-id")
            try requireRange(chatID, 1...Int64.max, "--chat-id")
            try requireRange(concurrency, 1...1_024, "--concurrency")
            try requireRange(timeout, 1...3_600, "--timeout", unit: " seconds")
        }

        func event(_ index: Int) -> OutgoingDialogFinish {
            var event = OutgoingDialogFinish(auth: .init(domain: domain, memberID: memberID, applicationToken: appToken))
            event.eventHandlerID = eventHandlerID
            event.connector = connector
            event.lineID = line
            event.chatID = chatID
            event.sessionID = sessionID + Int64(index)
            return event
        }

        func run() async throws {
            let url = URL(string: to)!
            let sender = EventSender(timeout: .seconds(timeout))
            var outcomes: [String: Int] = [:]
            var firstError: String?
            await withTaskGroup(of: Result<Int, any Error>.self) { group in
                var next = 0
                func launch() {
                    let item = self.event(next)
                    next += 1
                    group.addTask {
                        do { return .success(try await sender.send(item, to: url)) } catch { return .failure(error) }
                    }
                }
                while next < min(concurrency, count) { launch() }
                for await outcome in group {
                    switch outcome {
                    case .success(let status): outcomes[String(status), default: 0] += 1
                    case .failure(let error):
                        outcomes["error", default: 0] += 1
                        if firstError == nil { firstError = String(describing: error) }
                    }
                    if next < count { launch() }
                }
            }
            let summary = outcomes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            print("Sent \(count) ONIMCONNECTORDIALOGFINISH events to \(to): \(summary)")
            if let firstError { print("First transport error: \(firstError)") }
            let succeeded = outcomes.filter { $0.key.hasPrefix("2") }.values.reduce(0, +)
            if succeeded != count { throw ExitCode.failure }
        }
    }
}
