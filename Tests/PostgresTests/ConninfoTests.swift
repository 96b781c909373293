import Foundation
import Postgres
import Testing

@Suite("Connection strings")
struct ConninfoTests {
    func failure(_ conninfo: String) -> String {
        do { _ = try Connection(conninfo); return "connected" } catch { return "\(error)" }
    }

    @Test("a connection error never repeats the password, however the conninfo is written", arguments: [
        "postgresql://u:PASSWORD-9f8e7d@[::1/db",
        "postgresql://u:PASSWORD-9f8e7d@127.0.0.1:1/db",
        "postgresql://u:PASSWORD%2D9f8e7d@127.0.0.1:1/db?bogus=1",
        "host=127.0.0.1 port=1 user=u password=PASSWORD-9f8e7d",
        "host=127.0.0.1 password='PASSWORD-9f8e7d' bogus",
        "postgres://u:PASSWORD-9f8e7d@host:notaport/db",
        "host=127.0.0.1 password=two PASSWORD-9f8e7d",
    ])
    func errorsAreRedacted(conninfo: String) {
        let message = failure(conninfo)
        #expect(message != "connected")
        #expect(!message.contains("PASSWORD-9f8e7d") && !message.contains("9f8e7d"), "\(message)")
    }

    @Test("messages that quote a URI or a password= pair lose the password")
    func redactingMessages() {
        #expect(Conninfo.redacting(#"invalid URI "postgresql://me:s3cr3t@[::1/db""#)
                == #"invalid URI "postgresql://me:***@[::1/db""#)
        #expect(Conninfo.redacting("missing \"=\" in \"host=h password=s3cr3t x\"") == "missing \"=\" in \"host=h password=*** x\"")
        #expect(Conninfo.redacting("no secret here", conninfo: "password=abcdef") == "no secret here")
        #expect(Conninfo.redacting("repeats abcdef", conninfo: "host=h password=abcdef") == "repeats ***")
    }

    @Test("every connection gets a connect timeout and TCP keepalives unless its conninfo says otherwise",
          .enabled(if: ProcessInfo.processInfo.environment["DATABASE_URL"] != nil || ProcessInfo.processInfo.environment["CI"] == "true"))
    func defaults() throws {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        let settings = try Connection(url).settings
        if ProcessInfo.processInfo.environment["PGCONNECT_TIMEOUT"] == nil { #expect(settings["connect_timeout"] == "10") }
        #expect(settings["keepalives"] == "1")
        #expect(settings["keepalives_idle"] == "30")
        #expect(settings["keepalives_interval"] == "10")
        #expect(settings["keepalives_count"] == "3")
        let separator = url.contains("://") ? (url.contains("?") ? "&" : "?") : " "
        let override = url.contains("://") ? "\(separator)connect_timeout=3&keepalives_idle=5" : " connect_timeout=3 keepalives_idle=5"
        let overridden = try Connection(url + override).settings
        #expect(overridden["connect_timeout"] == "3" && overridden["keepalives_idle"] == "5", "the conninfo wins")
    }

    @Test("a host that answers nothing is given up on within the connect timeout, not the kernel's")
    func silentHost() async throws {
        // Waiting out the timeout blocks a thread: one of its own, not the pool's.
        let message = await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: Self.connectToSilentListener()) }
        }
        #expect(message.contains("timeout"), "\(message)")
        #expect(!message.contains("SILENT-PASSWORD"))
    }

    static func connectToSilentListener() -> String {
        // A listening socket whose backlog takes the connection and never speaks.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 8) == 0 else { return "could not listen" }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)
        do {
            _ = try Connection("host=127.0.0.1 port=\(port) user=u password=SILENT-PASSWORD connect_timeout=2")
            return "connected"
        } catch {
            return "\(error)"
        }
    }
}
