import Foundation

/// What one `b24outbox bench` run measured, written as JSON (snake_case keys) and as a table.
public struct BenchReport: Codable, Sendable {
    public struct Machine: Codable, Sendable {
        public var cpus: Int
        public var model: String
        public var kernel: String
        public var memoryGib: Double
        public var postgres: String
        public var build: String
    }

    /// A drain: intents already enqueued, delivered by a worker process. `seconds` runs from
    /// just before the worker starts until its last delivery is recorded.
    public struct Drain: Codable, Sendable {
        public var intents: Int
        public var seconds: Double
        public var intentsPerSecond: Double
        /// The worker process's life, start to exit: `seconds` and the idle check and exit after.
        public var processSeconds: Double
        public var concurrency: Int
        public var batch: Int
        public var peakRssMib: Double
    }

    public struct W1: Codable, Sendable {
        public var intents: Int
        public var seconds: Double
        public var intentsPerSecond: Double
        /// The best drain's worker process, start to exit.
        public var processSeconds: Double
        public var concurrency: Int
        public var peakRssMib: Double
        /// Every drain's rate; the best is the figure above (the peers are measured the same way).
        public var runsIntentsPerSecond: [Double]
        /// The same drain with one HTTP call per intent (`--batch 1`).
        public var unbatched: Drain
    }

    public struct W2: Codable, Sendable {
        public var intents: Int
        public var delivered: Int
        public var seconds: Double
        /// Notifications created at the portal per second, from 10 s after the start until the last.
        public var steadyPerSecond: Double
        public var queryLimitExceeded: Int
        public var queryLimitExceededAfter10S: Int

        enum CodingKeys: String, CodingKey {
            case intents, delivered, seconds, steadyPerSecond, queryLimitExceeded
            case queryLimitExceededAfter10S = "query_limit_exceeded_after_10s"
        }
    }

    public struct W3: Codable, Sendable {
        public var samples: Int
        public var p50Ms: Double
        public var p99Ms: Double
        public var maxMs: Double
    }

    public struct W4: Codable, Sendable {
        public var bulkApiIntents: Int
        public var bulkApiPerSecond: Double
        public var bulkApiBatch: Int
        public var bulkApiProducers: Int
        /// Every run of the bulk part, in order; `bulkApiPerSecond` is the best.
        public var bulkApiRunsPerSecond: [Double]
        public var sqlFunctionIntents: Int
        public var sqlFunctionPerSecond: Double
        public var sqlFunctionTransaction: Int
    }

    public struct W5: Codable, Sendable {
        public var logEntries: Int
        public var deliveredIntents: Int
        public var intents: Int
        public var seconds: Double
        public var intentsPerSecond: Double
        /// The best drain's worker process, start to exit.
        public var processSeconds: Double
        public var runsIntentsPerSecond: [Double]
        public var relativeToW1: Double?
    }

    /// Decoding event bodies at the endpoint's limits; in milliseconds, the best of five each.
    public struct W6: Codable, Sendable {
        public var bodyBytes: Int
        public var maxFields: Int
        /// Per hostile shape, and `worst_accepted`: the largest body the limits let through.
        public var milliseconds: [String: Double]
        public var slowestMs: Double
        /// A genuine event of the same size.
        public var genuineMs: Double
    }

    /// A W1 drain at the concurrency whose memory the targets name.
    public struct RSS: Codable, Sendable {
        public var peakRssMib: Double
        public var concurrency: Int
        public var intentsPerSecond: Double
    }

    public var date: String
    public var command: String
    public var machine: Machine
    public var w1: W1?
    public var w2: W2?
    public var w3: W3?
    public var w4: W4?
    public var w5: W5?
    public var w6: W6?
    public var rss: RSS?

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
