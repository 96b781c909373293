import Bitrix24
import Foundation
import Synchronization

/// Who may send events, held in memory: every portal's member id, domain and application token,
/// read from the database in one query and kept for a few seconds.
///
/// An event from a known sender with the right token costs no database read, and one from a
/// sender no portal has is refused while the last read is under `unknownFor` old. A token that
/// does not match (the application may just have been updated), or a stranger after that, is
/// checked against a read that began after it arrived; those reads are shared and spaced, so a
/// flood costs at most one read per `minInterval` in all.
public final class SenderDirectory: Sendable {
    public struct Configuration: Sendable {
        /// A read older than this is not trusted for any event. Default 5 s.
        public var maxAge: Duration = .seconds(5)
        /// Reads begin at least this far apart, whoever asks. Default 250 ms.
        public var minInterval: Duration = .milliseconds(250)
        /// A sender no portal has is refused from a read this recent without another. Default 2 s.
        public var unknownFor: Duration = .seconds(2)

        public init() {}
    }

    /// Every portal's proof of origin, as read at one moment.
    public struct Snapshot: Sendable {
        var byMemberID: [String: EventStore.Sender] = [:]
        /// Lower-cased domain → its portals; more than one identifies nobody.
        var byDomain: [String: [EventStore.Sender]] = [:]

        public init(_ senders: [(memberID: String?, domain: String?, sender: EventStore.Sender)]) {
            for (memberID, domain, sender) in senders {
                if let memberID, !memberID.isEmpty { byMemberID[memberID] = sender }
                if let domain, !domain.isEmpty { byDomain[domain.lowercased(), default: []].append(sender) }
            }
        }

        /// The portal named by `auth[member_id]` (preferred) or `auth[domain]`.
        func sender(of auth: Bitrix24Event.Auth) -> EventStore.Sender? {
            if let memberID = auth.memberID, !memberID.isEmpty { return byMemberID[memberID] }
            if let domain = auth.domain?.lowercased(), !domain.isEmpty, let found = byDomain[domain], found.count == 1 {
                return found[0]
            }
            return nil
        }
    }

    private struct Read {
        var snapshot: Snapshot
        var startedAt: ContinuousClock.Instant
    }

    private struct State {
        var last: Read?
        /// When the latest read began or was due to, failed ones included.
        var lastStart: ContinuousClock.Instant?
        /// The read under way (or waiting for its turn, when spaced).
        var pending: Task<Read, any Error>?
    }

    private let configuration: Configuration
    private let load: @Sendable () async throws -> Snapshot
    private let state = Mutex(State())
    private let readCount = Atomic<Int>(0)

    /// - Parameter load: reads every portal's sender (`EventStore.senders`, on the event path's
    ///   own connections).
    public init(configuration: Configuration = Configuration(), load: @escaping @Sendable () async throws -> Snapshot) {
        self.configuration = configuration
        self.load = load
    }

    /// Reads of the database made so far.
    public var reads: Int { readCount.load(ordering: .relaxed) }

    /// The verified sender of an event, or nil: unknown, or the token does not match a read
    /// that began after the event arrived.
    public func verifiedSender(of auth: Bitrix24Event.Auth) async throws -> EventStore.Sender? {
        let arrived = ContinuousClock.now
        if let last = state.withLock({ $0.last }), arrived - last.startedAt < configuration.maxAge {
            switch last.snapshot.sender(of: auth) {
            case let sender? where sender.verifies(auth):
                return sender
            case nil where arrived - last.startedAt < configuration.unknownFor:
                return nil  // a stranger, as of a moment ago
            default:
                break  // a wrong token, perhaps a new one: read again before refusing
            }
        }
        let fresh = try await read(startedNoEarlierThan: arrived)
        guard let sender = fresh.sender(of: auth), sender.verifies(auth) else { return nil }
        return sender
    }

    private func read(startedNoEarlierThan arrival: ContinuousClock.Instant) async throws -> Snapshot {
        while true {
            let task: Task<Read, any Error> = state.withLock { state in
                if let pending = state.pending { return pending }
                // Spaced from the previous read, so strangers cannot make reads back to back.
                let now = ContinuousClock.now
                let startsAt = state.lastStart.map { max(now, $0 + configuration.minInterval) } ?? now
                state.lastStart = startsAt
                let task = Task { [self] in
                    try await Task.sleep(until: startsAt, clock: .continuous)
                    let startedAt = ContinuousClock.now
                    readCount.add(1, ordering: .relaxed)
                    return Read(snapshot: try await load(), startedAt: startedAt)
                }
                state.pending = task
                return task
            }
            let result = await task.result
            state.withLock { state in
                guard state.pending == task else { return }
                state.pending = nil
                if case .success(let read) = result, read.startedAt >= state.last?.startedAt ?? read.startedAt {
                    state.last = read
                }
            }
            let read = try result.get()
            if read.startedAt >= arrival { return read.snapshot }
        }
    }
}
