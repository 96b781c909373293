#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Logging

/// The process's open-file limit. Many calls in flight hold a socket each, and idle keep-alive
/// connections to many portals hold theirs: the soft limit (often 1,024) is raised to the hard
/// one, as servers with many sockets do, and a warning says when even that is under the need.
public enum FileDescriptorLimit {
    /// Raises the soft limit to the hard limit; warns when the result is under `connections`
    /// plus a reserve for the database connections, logs and the rest.
    public static func raise(forConnections connections: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(resourceNoFile, &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resourceNoFile, &raised) == 0 {
                logger.debug("raised the open-file limit", metadata: ["from": "\(limit.rlim_cur)", "to": "\(raised.rlim_cur)"])
                limit = raised
            }
        }
        let needed = UInt64(max(0, connections)) + 256
        if UInt64(limit.rlim_cur) < needed {
            logger.warning(
                "the open-file limit is under what the calls in flight may need; raise it (ulimit -n, LimitNOFILE=) or lower --max-in-flight",
                metadata: ["limit": "\(limit.rlim_cur)", "needed": "\(needed)"])
        }
    }

    /// The current soft limit.
    public static var current: UInt64 {
        var limit = rlimit()
        return getrlimit(resourceNoFile, &limit) == 0 ? UInt64(limit.rlim_cur) : 0
    }

    #if canImport(Glibc)
    private static var resourceNoFile: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
    #else
    private static var resourceNoFile: Int32 { RLIMIT_NOFILE }
    #endif
}
