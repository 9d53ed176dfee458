#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MaildexSupport
import MaildexParse

/// Reading plain files: memory-mapped windows cut in place, or `read(2)` windows under `--no-mmap`.
extension SourceReader {
    static func readPlainMapped(_ file: MappedFile, _ source: UInt32, _ date: CivilDate, _ options: ReadOptions,
                                _ start: ReadStart?, _ body: (Window) throws -> UInt64) throws -> ReadSummary {
        let all = file.bytes
        let hasher = start?.hasher ?? SHA256Hasher()
        var summary = ReadSummary()
        let first = Int(start?.offset ?? 0)
        guard first <= all.count else { throw shrank(file.path, from: UInt64(first), to: UInt64(all.count)) }
        summary.startOffset = UInt64(first)
        var at = first, previous = first, released = first
        var line: UInt64 = start?.line ?? 1
        var continues = false
        while at < all.count {
            var end = all.count
            let windowSize = min(options.windowSize, min(options.maxWindow, SourceReader.maxWindow) / 2)
            if all.count - at > windowSize {
                // At the next record start; but a window never grows past `maxWindow` (a file
                // of endless continuation lines is cut at a line end instead).
                let limit = at + min(options.maxWindow, SourceReader.maxWindow)
                if let cut = RecordBoundaries.nextRecordStart(all, from: at + windowSize, before: limit + 1), cut <= limit {
                    end = cut
                } else if all.count > limit {
                    end = SourceReader.lineEnd(all, before: limit, after: at + windowSize)
                }
            }
            let piece = UnsafeRawBufferPointer(rebasing: all[at..<end])
            let window = Window(bytes: piece, owner: file, source: source, date: date,
                                streamOffset: UInt64(at), firstLineNumber: line, continuesLine: continues)
            let hashBox = UncheckedBox((hasher, piece))
            try overlapped(threads: options.threads, { hashBox.value.0.update(hashBox.value.1) }) {
                line += try body(window)
            }
            line = SourceReader.nextLineNumber(line, continued: continues, endsInsideALine: end < all.count && all[end - 1] != 10)
            continues = end < all.count && all[end - 1] != 10
            // The caller may still be reading the previous window (a writer one batch
            // behind): give back the pages of the one before it.
            file.release(released..<previous)
            released = previous
            previous = at
            at = end
        }
        summary.plainBytes = UInt64(all.count - first)
        summary.fileBytes = UInt64(all.count)
        summary.sha256 = hasher.finish()
        return summary
    }

    /// With `holdBack`, the bytes after the file's last `\n` are neither read nor hashed
    /// (`ReadSummary.heldBack`): the server may be writing that line, which the next run
    /// reads whole.
    static func readPlainStreaming(_ path: String, _ source: UInt32, _ date: CivilDate, _ options: ReadOptions,
                                   _ start: ReadStart?, holdBack: Bool,
                                   _ body: @escaping (Window) throws -> UInt64) throws -> ReadSummary {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MaildexError.io(path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        let sizeWhenOpened = fstat(fd, &st) == 0 ? UInt64(st.st_size) : 0
        var summary = ReadSummary()
        let first = start?.offset ?? 0
        if first > 0 {
            guard first <= sizeWhenOpened, lseek(fd, off_t(first), SEEK_SET) == off_t(first) else {
                throw shrank(path, from: first, to: sizeWhenOpened)
            }
        }
        summary.startOffset = first
        let hasher = start?.hasher ?? SHA256Hasher()
        let assembler = WindowAssembler(source: source, date: date, maxWindow: options.maxWindow, body: body)
        assembler.offset = first
        assembler.line = start?.line ?? 1
        let buffer = OwnedBytes(count: options.windowSize)
        // Under `holdBack`: the bytes after the last `\n` read so far, not yet passed on.
        var tail = [UInt8]()
        var read: UInt64 = 0
        while true {
            let n: Int
            do {
                n = try readFully(fd, into: buffer.pointer, count: buffer.count, path: path, offset: first + read)
            } catch let e as IOError {
                summary.error = e
                break
            }
            if n == 0 { break }
            read += UInt64(n)
            let piece = UnsafeRawBufferPointer(start: buffer.pointer, count: n)
            if holdBack {
                // Passed on up to the last line end.
                let cut = SourceReader.lineEnd(piece, before: n, after: 0)
                if cut > 0 && piece[cut - 1] == 10 {
                    let head = UnsafeRawBufferPointer(rebasing: piece[..<cut])
                    tail.withUnsafeBytes { hasher.update($0) }
                    hasher.update(head)
                    try tail.withUnsafeBytes { try assembler.add([$0, head]) }
                    summary.plainBytes += UInt64(tail.count + cut)
                    tail = Array(piece[cut...])
                } else {
                    tail += piece
                }
            } else {
                hasher.update(piece)
                try assembler.add([piece])
                summary.plainBytes += UInt64(n)
            }
            if n < buffer.count { break }
        }
        try assembler.finish()
        summary.heldBack = UInt64(tail.count)
        if summary.error == nil, first + read < sizeWhenOpened {
            summary.error = shrank(path, from: sizeWhenOpened, to: first + read)
        }
        summary.fileBytes = first + summary.plainBytes
        summary.sha256 = hasher.finish()
        return summary
    }
}
