import Bitrix24Wire
import Foundation
import Synchronization

/// A one-way switch: set once, read from any thread. Setting it also makes `descriptor`
/// readable, so a thread blocked in `poll(2)` on a socket can wake for it at once.
final class StopFlag: Sendable {
    private let stopped = Atomic<Bool>(false)
    /// A connected pair of descriptors: a byte written to one makes the other readable.
    private let pair: (read: Int32, write: Int32)

    init() {
        var ends: [Int32] = [-1, -1]
        // Without a pair (no descriptors left) waiters still notice the flag at their next timeout.
        // Close-on-exec from the start: a child spawned meanwhile must not inherit the ends.
        #if canImport(Glibc)
        // A socket pair, as Glibc's module offers no pipe2: SOCK_CLOEXEC makes it atomic.
        if socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &ends) != 0 { ends = [-1, -1] }
        #else
        if Darwin.pipe(&ends) == 0 {
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        } else {
            ends = [-1, -1]
        }
        #endif
        pair = (ends[0], ends[1])
    }

    deinit {
        for end in [pair.read, pair.write] where end >= 0 { close(end) }
    }

    var isSet: Bool { stopped.load(ordering: .acquiring) }

    /// Readable once the flag is set (-1 when no pair could be made).
    var descriptor: Int32 { pair.read }

    func set() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing), pair.write >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(pair.write, &byte, 1)
    }
}
