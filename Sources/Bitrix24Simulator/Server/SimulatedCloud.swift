import Foundation
import Logging

/// Many simulated portals in one process, each a `Simulator` of its own as a real portal is:
/// its own address, webhook code, OAuth client and tokens, member id, domain, application token,
/// bucket, stores, faults (seeded apart) and state.
///
/// Portal `i` (from 0) listens on a loopback address of its own, 127.0.0.2, 127.0.0.3 and on
/// (Linux routes all of 127.0.0.0/8 to the loopback interface without setup), so an HTTP client
/// sees separate hosts and keeps a connection pool per portal, as with real portals.
///
/// ```swift
/// let cloud = try await SimulatedCloud.start(portals: 3)
/// defer { Task { await cloud.stop() } }
/// cloud.portals[1].webhookURL   // http://127.0.0.3:PORT/rest/1/CODE/
/// ```
public final class SimulatedCloud: Sendable {
    /// The most portals one cloud runs: every one has two listeners (its address, and the one a
    /// rename moves it to), so 10,000 portals already hold 20,000 sockets.
    public static let portalLimit = 10_000

    public let portals: [Simulator]

    private init(portals: [Simulator]) {
        self.portals = portals
    }

    /// Starts `count` portals from `base`, each given its own address and secrets by
    /// `configuration(of:from:)`, and returns once all accept connections. If one cannot
    /// start, those already started are stopped.
    ///
    /// - Parameter stopOnSignals: stop on SIGINT/SIGTERM (for the CLI): the first portal
    ///   listens for them, and `waitUntilStopped` then stops the others.
    public static func start(
        portals count: Int, _ base: Simulator.Configuration = Simulator.Configuration(),
        stopOnSignals: Bool = false, logger: Logger? = nil
    ) async throws -> SimulatedCloud {
        guard (1...portalLimit).contains(count) else {
            throw CloudError("a simulated cloud runs 1 to \(portalLimit) portals, not \(count)")
        }
        var started: [Simulator] = []
        started.reserveCapacity(count)
        do {
            for index in 0..<count {
                started.append(try await Simulator.start(
                    configuration(of: index, from: base), stopOnSignals: stopOnSignals && index == 0, logger: logger))
            }
        } catch {
            for simulator in started { await simulator.stop() }
            throw error
        }
        return SimulatedCloud(portals: started)
    }

    /// Waits until the first portal stops (on a signal, with `stopOnSignals`), then stops the rest.
    public func waitUntilStopped() async throws {
        do {
            try await portals[0].waitUntilStopped()
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    /// Stops every portal.
    public func stop() async {
        await withTaskGroup(of: Void.self) { group in
            for simulator in portals { group.addTask { await simulator.stop() } }
        }
    }

    /// The loopback address of portal `index`: 127.0.0.2 for the first, never one ending in .0,
    /// .1 or .255 (the network, the usual host and a broadcast-looking address).
    public static func address(of index: Int) -> String {
        precondition((0..<portalLimit).contains(index), "portal index out of range")
        let block = index / 253
        return "127.\(block / 256).\(block % 256).\(2 + index % 253)"
    }

    /// Portal `index`'s configuration: `base` with an address, a fault seed and secrets of its
    /// own; `base.port` at every address (0: one the system picks for each). The secrets are
    /// random, so one portal's code, tokens or application token never work at another.
    public static func configuration(of index: Int, from base: Simulator.Configuration) -> Simulator.Configuration {
        var c = base
        c.host = address(of: index)
        c.webhookCode = randomHex(count: 16)
        c.memberID = randomHex(count: 32)
        c.applicationToken = randomHex(count: 32)
        c.domain = "portal-\(index + 1).\(base.domain)"
        c.oauth.clientSecret = randomHex(count: 32)
        c.oauth.accessToken = randomHex(count: 40)
        c.oauth.refreshToken = randomHex(count: 40)
        c.faults.seed = base.faults.seed &+ UInt64(index)
        return c
    }

    /// What a client needs to reach each portal and prove it is the application: its addresses
    /// and the simulator's own test credentials (made up, printed by `simulate --portals N --json`).
    public struct PortalAccess: Sendable, Codable, Hashable {
        public var name: String
        public var baseURL: String
        public var webhookURL: String
        public var restURL: String
        public var tokenURL: String
        public var memberID: String
        public var domain: String
        public var applicationToken: String
        public var clientID: String
        public var clientSecret: String
        public var accessToken: String
        public var refreshToken: String

        enum CodingKeys: String, CodingKey {
            case name, domain
            case baseURL = "base_url", webhookURL = "webhook_url", restURL = "rest_url", tokenURL = "token_url"
            case memberID = "member_id", applicationToken = "application_token", clientID = "client_id"
            case clientSecret = "client_secret", accessToken = "access_token", refreshToken = "refresh_token"
        }
    }

    /// Every portal's access, in order; portal `i` is named `portal-(i+1)`.
    public var access: [PortalAccess] {
        portals.enumerated().map { index, simulator in
            let c = simulator.configuration
            return PortalAccess(
                name: "portal-\(index + 1)", baseURL: simulator.baseURL.absoluteString,
                webhookURL: simulator.webhookURL.absoluteString, restURL: simulator.restURL.absoluteString,
                tokenURL: simulator.tokenURL.absoluteString, memberID: c.memberID, domain: c.domain,
                applicationToken: c.applicationToken, clientID: c.oauth.clientID, clientSecret: c.oauth.clientSecret,
                accessToken: c.oauth.accessToken, refreshToken: c.oauth.refreshToken)
        }
    }

    public struct CloudError: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
