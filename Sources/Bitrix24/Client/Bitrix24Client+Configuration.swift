import AsyncHTTPClient
import Foundation
import NIOCore

extension Bitrix24Client {
    public struct Configuration: Sendable {
        /// Deadline for one HTTP exchange. Default 30 s: Bitrix24 stops a request at 60 s, and a
        /// shorter deadline keeps a stuck call from outliving a worker's lease. A redirect
        /// (renamed portal) and a retry after a token refresh each get a fresh deadline.
        public var requestTimeout: Duration = .seconds(30)
        /// Deadline for establishing a connection (owned HTTP client only). Default 10 s.
        public var connectTimeout: Duration = .seconds(10)
        /// Concurrent connections per portal host (owned HTTP client only). Default 16, enough for
        /// a worker pool to keep one request in flight per worker without queueing.
        public var maxConnectionsPerHost: Int = 16
        /// How long an idle pooled connection is kept (owned HTTP client only). Default 60 s.
        public var idleConnectionTimeout: Duration = .seconds(60)
        /// The OAuth server that refreshes tokens. Default `https://oauth.bitrix.info/oauth/token/`.
        public var tokenEndpoint: URL = URL(string: "https://oauth.bitrix.info/oauth/token/")!
        /// How long before an access token's known expiry it is refreshed, in the background:
        /// at most half the token's lifetime. Default 300 s (tokens live 3600 s).
        public var refreshAhead: Duration = .seconds(300)
        /// Larger bodies are refused (and the call counts as ambiguous). Default 16 MiB.
        public var maxResponseBytes: Int = 16 << 20
        public var userAgent: String = "b24outbox"

        public init() {}

        /// The AsyncHTTPClient configuration an owned client uses: redirects are never followed
        /// (a renamed portal's 302 would turn the POST into a GET), and a refused connection
        /// fails at once instead of being retried until the deadline (the caller retries).
        public var httpClientConfiguration: HTTPClient.Configuration {
            var pool = HTTPClient.Configuration.ConnectionPool(
                idleTimeout: TimeAmount(idleConnectionTimeout),
                concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, maxConnectionsPerHost))
            pool.retryConnectionEstablishment = false
            return HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: TimeAmount(connectTimeout), read: TimeAmount(requestTimeout)),
                connectionPool: pool)
        }
    }
}
