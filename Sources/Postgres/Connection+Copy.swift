import CLibpq

extension Connection {
    /// Bulk insert with `COPY … FROM STDIN` in text format: thousands of rows in one round trip.
    ///
    ///     try db.copyIn("COPY t (a, b) FROM STDIN", rows: [[1, "x"], [2, String?.none]])
    ///
    /// Returns the number of rows copied. On any error nothing is copied.
    @discardableResult
    public func copyIn(_ copyStatement: String, rows: some Sequence<[any PostgresEncodable]>) throws -> Int {
        try ensureOpen()
        guard let start = PQexec(handle, copyStatement) else { throw connectionError() }
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            defer { PQclear(start) }
            if PQresultStatus(start) == PGRES_FATAL_ERROR { throw error(from: start) }
            throw PostgresError(code: .protocolViolation, message: "the statement is not a COPY … FROM STDIN")
        }
        PQclear(start)

        var buffer = [UInt8]()
        buffer.reserveCapacity(Self.copyChunkSize + 4096)
        do {
            for row in rows {
                try Self.appendCopyRow(row, to: &buffer)
                if buffer.count >= Self.copyChunkSize {
                    try sendCopyData(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if !buffer.isEmpty { try sendCopyData(buffer) }
        } catch {
            // Abort the COPY so the server discards every row, then report the first error.
            PQputCopyEnd(handle, "aborted by client")
            while let result = PQgetResult(handle) { PQclear(result) }
            throw error
        }
        guard PQputCopyEnd(handle, nil) == 1 else { throw connectionError() }
        var copied = 0
        var failure: (any Error)?
        while let result = PQgetResult(handle) {
            do { copied = try consume(result).affectedRows } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
        return copied
    }

    /// Streams `COPY … TO STDOUT`: `body` gets each row as libpq hands it over (one line of
    /// text format, newline included) and must not keep the buffer. Returns the number of rows.
    /// When `body` throws, the rest of the output is read and dropped, so the connection stays
    /// usable, and the error is rethrown.
    @discardableResult
    public func copyOut(_ copyStatement: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try ensureOpen()
        guard let start = PQexec(handle, copyStatement) else { throw connectionError() }
        guard PQresultStatus(start) == PGRES_COPY_OUT else {
            defer { PQclear(start) }
            if PQresultStatus(start) == PGRES_FATAL_ERROR { throw error(from: start) }
            throw PostgresError(code: .protocolViolation, message: "the statement is not a COPY … TO STDOUT")
        }
        PQclear(start)
        var failure: (any Error)?
        while true {
            var row: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &row, 0)
            guard length >= 0 else {
                // -1: the output is complete and its result follows; -2: the connection failed.
                if length == -2 { failure = failure ?? connectionError() }
                break
            }
            defer { PQfreemem(row) }
            if failure == nil {
                do { try body(UnsafeRawBufferPointer(start: row, count: Int(length))) } catch { failure = error }
            }
        }
        var copied = 0
        while let result = PQgetResult(handle) {
            do { copied = try consume(result).affectedRows } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
        return copied
    }

    private static let copyChunkSize = 256 * 1024

    private func sendCopyData(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1 else { throw connectionError() }
    }

    /// One line of COPY text format: tab-separated, `\N` for NULL, backslash escapes.
    static func appendCopyRow(_ row: [any PostgresEncodable], to buffer: inout [UInt8]) throws {
        for (i, value) in row.enumerated() {
            if i > 0 { buffer.append(UInt8(ascii: "\t")) }
            guard let text = value.postgresText else {
                buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
                continue
            }
            for byte in text.utf8 {
                switch byte {
                case 0:
                    throw PostgresError(
                        code: .characterNotInRepertoire,
                        message: "a COPY value contains a NUL character, which PostgreSQL text cannot hold")
                case UInt8(ascii: "\\"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\n"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case UInt8(ascii: "\t"): buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default: buffer.append(byte)
                }
            }
        }
        buffer.append(UInt8(ascii: "\n"))
    }
}
