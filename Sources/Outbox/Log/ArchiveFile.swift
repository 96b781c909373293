import Foundation

/// One archived month on disk: the rows as COPY text lines, written under a temporary name,
/// flushed to disk, read back and checked, and only then given their final name, with a
/// `sha256sum -c` line beside them. Nothing is left under the final names if any step fails.
struct ArchiveFile {
    let directory: URL
    let name: String

    var path: String { directory.appending(path: name).path }
    var checksumPath: String { path + ".sha256" }
    private var partialPath: String { directory.appending(path: ".\(name).partial").path }

    struct Written: Equatable {
        var rows: Int
        var sha256: String
    }

    /// True when the file or its checksum file is already there.
    var exists: Bool {
        FileManager.default.fileExists(atPath: path) || FileManager.default.fileExists(atPath: checksumPath)
    }

    /// Writes what `produce` hands to its sink, then proves the bytes on disk are those bytes.
    /// Never touches another run's files: each is created exclusively, and on failure only
    /// what this call created is removed.
    func write(_ produce: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> Written {
        let out = try ArchiveOutput(path: partialPath)
        var created = [partialPath]
        do {
            var hash = SHA256()
            var rows = 0
            do {
                try produce { bytes in
                    hash.update(bytes)
                    rows += bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                    try out.append(bytes)
                }
                try out.finish()
            } catch {
                out.abandon()
                throw error
            }
            let written = Written(rows: rows, sha256: hash.finish())
            let reread = try Self.readBack(partialPath)
            guard reread == written else {
                throw ArchiveFileError(description: "\(name) read back as \(reread.rows) rows with SHA-256 \(reread.sha256), "
                    + "not the \(written.rows) rows with SHA-256 \(written.sha256) written")
            }
            try Self.move(partialPath, to: path)
            created = [path]
            let checksum = try ArchiveOutput(path: partialPath)
            created.append(partialPath)
            try Array("\(written.sha256)  \(name)\n".utf8).withUnsafeBytes { try checksum.append($0) }
            try checksum.finish()
            try Self.move(partialPath, to: checksumPath)
            created = [path, checksumPath]
            try Self.syncDirectory(directory.path)
            return written
        } catch {
            for file in created { unlink(file) }
            throw error
        }
    }

    /// Removes the archive and its checksum after they were written (its transaction rolled back).
    func remove() {
        for file in [path, checksumPath] { unlink(file) }
    }

    /// Rows (lines) and SHA-256 of a file as it is on disk.
    static func readBack(_ path: String) throws -> Written {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ArchiveFileError(posix: "cannot open \(path) to read it back") }
        defer { close(fd) }
        var hash = SHA256()
        var rows = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw ArchiveFileError(posix: "cannot read \(path)") }
            if count == 0 { break }
            buffer.withUnsafeBytes { bytes in
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[..<count])
                hash.update(chunk)
                rows += chunk.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            }
        }
        return Written(rows: rows, sha256: hash.finish())
    }

    /// Gives a file its name, failing rather than replacing a file already there.
    private static func move(_ from: String, to: String) throws {
        if link(from, to) == 0 {
            unlink(from)
            return
        }
        // A file system without hard links: rename, after making sure the name is free.
        let reason = errno
        let noHardLinks = reason == EPERM || reason == EOPNOTSUPP
        guard noHardLinks, !FileManager.default.fileExists(atPath: to) else {
            throw ArchiveFileError(posix: "cannot name \(from) \(to)", code: noHardLinks ? EEXIST : reason)
        }
        guard rename(from, to) == 0 else { throw ArchiveFileError(posix: "cannot rename \(from) to \(to)") }
    }

    private static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0, fsync(fd) == 0 else {
            let reason = errno
            if fd >= 0 { close(fd) }
            throw ArchiveFileError(posix: "cannot flush the directory \(path)", code: reason)
        }
        close(fd)
    }
}

struct ArchiveFileError: Error, CustomStringConvertible {
    var description: String

    init(description: String) { self.description = description }

    /// With the system's reason (`errno` unless given).
    init(posix what: String, code: Int32 = errno) {
        description = "\(what): \(String(cString: strerror(code)))"
    }
}

/// A new file (never an existing one), buffered, flushed to disk by `finish`.
private final class ArchiveOutput {
    let fd: Int32
    let path: String
    var buffer = [UInt8]()
    var closed = false

    init(path: String) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o640)
        guard fd >= 0 else { throw ArchiveFileError(posix: "cannot create \(path)") }
        self.path = path
        buffer.reserveCapacity(1 << 20)
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func finish() throws {
        try flush()
        guard fsync(fd) == 0 else { throw ArchiveFileError(posix: "cannot flush \(path) to disk") }
        #if os(Linux)
        // Drop the cached pages, so that reading the file back reads what reached the disk.
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        #endif
        closed = true
        guard close(fd) == 0 else { throw ArchiveFileError(posix: "cannot close \(path)") }
    }

    func abandon() {
        if !closed { _ = close(fd) }
        closed = true
    }

    private func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let count = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            guard count > 0 else { throw ArchiveFileError(posix: "cannot write \(path)") }
            offset += count
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { abandon() }
}
