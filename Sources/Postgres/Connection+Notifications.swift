import CLibpq
import Foundation

/// A NOTIFY received on a channel this connection LISTENs to.
public struct Notification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    /// The server process that sent it.
    public var senderPID: Int32
}

extension Connection {
    public func listen(_ channel: String) throws {
        try execute("LISTEN \(try quoteIdentifier(channel))")
    }

    public func unlisten(_ channel: String) throws {
        try execute("UNLISTEN \(try quoteIdentifier(channel))")
    }

    /// Sends a notification (delivered when the surrounding transaction, if any, commits).
    public func notify(_ channel: String, payload: String = "") throws {
        try execute("SELECT pg_notify($1, $2)", [channel, payload])
    }

    /// Waits until a notification arrives or `timeout` passes (nil then). Blocks the calling
    /// thread in `poll(2)` on the connection's socket, so it wakes the moment data arrives.
    /// When `interrupt` (a descriptor) becomes readable, returns nil at once.
    public func waitForNotification(timeout: Duration, interrupt: Int32? = nil) throws -> Notification? {
        try ensureOpen()
        let deadline = ContinuousClock.now + timeout
        while true {
            if let pending = try nextNotification() { return pending }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return nil }
            var descriptors = [pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)]
            guard descriptors[0].fd >= 0 else { throw connectionError() }
            if let interrupt, interrupt >= 0 { descriptors.append(pollfd(fd: interrupt, events: Int16(POLLIN), revents: 0)) }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
            if ready < 0 && errno != EINTR {
                throw PostgresError(code: .connectionFailure, message: "poll failed: \(String(cString: strerror(errno)))")
            }
            if descriptors.count > 1 && descriptors[1].revents != 0 { return try nextNotification() }
        }
    }

    /// Reads what the socket has and returns the next queued notification, without blocking.
    public func nextNotification() throws -> Notification? {
        try ensureOpen()
        guard PQconsumeInput(handle) == 1 else { throw connectionError() }
        guard let raw = PQnotifies(handle) else { return nil }
        defer { PQfreemem(raw) }
        return Notification(
            channel: String(cString: raw.pointee.relname),
            payload: String(cString: raw.pointee.extra),
            senderPID: raw.pointee.be_pid)
    }

    /// A quoted SQL identifier (`"My Channel"`), for statements that take no parameters.
    public func quoteIdentifier(_ name: String) throws -> String {
        guard let quoted = PQescapeIdentifier(handle, name, name.utf8.count) else { throw connectionError() }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }
}
