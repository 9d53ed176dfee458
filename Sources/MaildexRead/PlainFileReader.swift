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
                                _ body: (Window) throws -> UInt64) throws -> ReadSummary {
        let all = file.bytes
        let hasher = SHA256Hasher()
        var summary = ReadSummary()
        var at = 0, previous = 0, released = 0
        var line: UInt64 = 1
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
        summary.plainBytes = UInt64(all.count)
        summary.fileBytes = UInt64(all.count)
        summary.sha256 = hasher.finish()
        return summary
    }

    static func readPlainStreaming(_ path: String, _ source: UInt32, _ date: CivilDate, _ options: ReadOptions,
                                   _ body: @escaping (Window) throws -> UInt64) throws -> ReadSummary {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MaildexError.io(path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        let sizeWhenOpened = fstat(fd, &st) == 0 ? UInt64(st.st_size) : 0
        let hasher = SHA256Hasher()
        let assembler = WindowAssembler(source: source, date: date, maxWindow: options.maxWindow, body: body)
        let buffer = OwnedBytes(count: options.windowSize)
        var summary = ReadSummary()
        while true {
            let n: Int
            do {
                n = try readFully(fd, into: buffer.pointer, count: buffer.count, path: path, offset: summary.plainBytes)
            } catch let e as IOError {
                summary.error = e
                break
            }
            if n == 0 { break }
            let piece = UnsafeRawBufferPointer(start: buffer.pointer, count: n)
            hasher.update(piece)
            try assembler.add([piece])
            summary.plainBytes += UInt64(n)
            if n < buffer.count { break }
        }
        try assembler.finish()
        if summary.error == nil, summary.plainBytes < sizeWhenOpened {
            summary.error = shrank(path, from: sizeWhenOpened, to: summary.plainBytes)
        }
        summary.fileBytes = summary.plainBytes
        summary.sha256 = hasher.finish()
        return summary
    }
}
