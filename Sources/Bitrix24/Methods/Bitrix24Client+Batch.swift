import Bitrix24Wire

extension Bitrix24Client {
    /// Bitrix24 refuses longer batches with `ERROR_BATCH_LENGTH_EXCEEDED`.
    public static let maxBatchCommands = 50

    /// Runs up to 50 commands in one request (one request against the rate limit).
    ///
    /// Each command gets its own outcome; with `halt` the commands after the first failure are
    /// `.notExecuted`. A failure of the request as a whole (rate limit, timeout) throws, and then
    /// any part of the batch may have run.
    /// No exchange starts that could end after `deadline` (see `execute(_:deadline:)`).
    public func batch(
        _ commands: [BatchCommand], halt: Bool = false, deadline: ContinuousClock.Instant? = nil
    ) async throws(Bitrix24Error) -> BatchResponse {
        try Self.validateBatch(commands)
        let response = try await perform(method: "batch", deadline: deadline) { auth in
            Self.batchBody(commands, halt: halt, auth: auth)
        }
        let secrets = await store.credentials.secrets
        var outcomes = BatchResponse.outcomes(of: response.result, commands: commands)
        var failed = 0
        var notExecuted = 0
        for (key, outcome) in outcomes {
            switch outcome {
            case .failure(let error):
                failed += 1
                outcomes[key] = .failure(error.scrubbed(of: secrets))
            case .notExecuted:
                notExecuted += 1
            case .success:
                break
            }
        }
        logger.debug(
            "bitrix24 batch outcomes",
            metadata: [
                "b24.commands": "\(commands.count)", "b24.failed": "\(failed)", "b24.not_executed": "\(notExecuted)",
            ])
        return BatchResponse(
            keys: commands.map(\.key), outcomes: outcomes, time: response.time, httpStatus: response.httpStatus,
            elapsed: response.elapsed, portalMovedTo: response.portalMovedTo)
    }

    /// Refuses before sending what Bitrix24 would refuse or misreport.
    static func validateBatch(_ commands: [BatchCommand]) throws(Bitrix24Error) {
        guard commands.count <= maxBatchCommands else {
            throw Bitrix24Error(
                code: .batchLengthExceeded,
                errorDescription: "\(commands.count) commands; a batch takes at most \(maxBatchCommands)",
                method: "batch", failureClass: .permanent)
        }
        guard !commands.isEmpty else {
            throw Bitrix24Error(code: .invalidArgument, errorDescription: "a batch needs at least one command", method: "batch")
        }
        var seen = Set<String>(minimumCapacity: commands.count)
        for command in commands {
            guard !command.key.isEmpty, seen.insert(command.key).inserted else {
                throw Bitrix24Error(
                    code: .invalidArgument, errorDescription: "batch command keys must be non-empty and unique",
                    method: "batch")
            }
            guard isValidMethodName(command.method) else {
                throw Bitrix24Error(
                    code: .invalidArgument, errorDescription: "a method name has only letters, digits, '.' and '_'",
                    method: "batch")
            }
        }
    }

    /// `{"halt":0,"cmd":{"key":"method?query",…},"auth":"…"}`, written by hand because Bitrix24
    /// runs the commands in the order of `cmd`, and `JSONValue` objects are unordered.
    static func batchBody(_ commands: [BatchCommand], halt: Bool, auth: String?) -> [UInt8] {
        // Written by hand, not from a dictionary: Bitrix24 runs the commands in the order given.
        var json = JSONWriter(capacity: 256 * commands.count)
        json.raw(halt ? #"{"halt":1,"cmd":{"# : #"{"halt":0,"cmd":{"#)
        for (i, command) in commands.enumerated() {
            if i > 0 { json.raw(",") }
            json.string(command.key)
            json.raw(":")
            json.string(command.query)
        }
        json.raw("}")
        if let auth {
            json.raw(#","auth":"#)
            json.string(auth)
        }
        json.raw("}")
        return json.bytes
    }
}
