#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MaildexSupport
import MaildexParse

/// How to read input files.
public struct ReadOptions: Sendable {
    /// Memory-map plain files (else `read(2)` them in windows).
    public var useMmap = true
    /// Bytes of log text handed to the parser at once.
    public var windowSize = 64 << 20
    /// Worker threads for parallel frame decompression.
    public var threads = 2
    /// The largest window (offsets inside a window are 32-bit): at most
    /// `SourceReader.maxWindow`; smaller only in tests of what happens at the limit.
    public var maxWindow = SourceReader.maxWindow
    /// The largest zstd frame of a multi-frame archive decompressed whole, in parallel
    /// with its neighbours; a larger one (declared, or found while decompressing a frame
    /// that declares no size) is streamed instead. Bounds the memory of a batch.
    public var wholeFrameLimit = 64 << 20
    /// Room kept before each piece of a streamed frame for the record the piece before
    /// left unfinished, so the piece is parsed where it was decompressed; a longer
    /// record is joined to the piece in a copy.
    public var streamHeadroom = 64 << 10
    public init() {}
}

/// What reading one file produced besides its windows.
public struct ReadSummary: Sendable {
    /// Uncompressed bytes of log text.
    public var plainBytes: UInt64 = 0
    /// SHA-256 of the file's bytes as stored (compressed bytes for `.zst`).
    public var sha256: [UInt8] = []
    /// How many of the file's bytes (as stored) were read and hashed: its size as read,
    /// which is what the source table records beside the digest (a file still being
    /// written may have grown since it was listed).
    public var fileBytes: UInt64 = 0
    /// The zstd layout: 0 for plain files, else the number of frames.
    public var frames = 0
    /// A problem that stopped reading part-way: everything before it was read.
    public var error: IOError? = nil
}

/// Reads one input file as a series of windows of log text, each ending at a record
/// boundary (or the file's end), and hashes the file's bytes on the way.
///
/// - Plain files are memory-mapped and cut into windows in place (no copy), or read
///   with `read(2)` under `--no-mmap`.
/// - A zstd archive with several frames is split at frame boundaries and its frames
///   are decompressed in parallel, a batch at a time.
/// - A single-frame zstd archive is streamed: one thread decompresses while the
///   caller parses the previous window.
public enum SourceReader {
    /// No window is larger than this (offsets within a window are 32-bit).
    public static let maxWindow = 1 << 30

    /// The position just after the last `\n` in `p[after..<before]`, or `before` if none.
    static func lineEnd(_ p: UnsafeRawBufferPointer, before: Int, after: Int) -> Int {
        var i = before
        while i > after { if p[i - 1] == 10 { return i }; i -= 1 }
        return before
    }

    /// Calls `body` with each window; `body` returns the number of lines in it.
    public static func read(path: String, source: UInt32, date: CivilDate, options: ReadOptions,
                            body: @escaping (Window) throws -> UInt64) throws -> ReadSummary {
        let isZstd = path.hasSuffix(".zst") || path.hasSuffix(".zstd")
        if !isZstd && !options.useMmap { return try readPlainStreaming(path, source, date, options, body) }
        // Under `--no-mmap` an archive is read into memory (it is a few times smaller than
        // its text), so that a file truncated under maildex cannot raise SIGBUS.
        let file = try MappedFile(path: path, mapped: options.useMmap)
        if isZstd { return try readZstd(file, source, date, options, body) }
        return try readPlainMapped(file, source, date, options, body)
    }

    /// The number of the next window's first line, given `line` = this window's first
    /// line number plus the lines the sessionizer counted in it (which leaves out a first
    /// line that continues the previous window's last). A window cut inside a line hands
    /// that line, under the same number, to the next window.
    static func nextLineNumber(_ line: UInt64, continued: Bool, endsInsideALine: Bool) -> UInt64 {
        line + (continued ? 1 : 0) - (endsInsideALine ? 1 : 0)
    }

    /// Runs `hash` on another thread while `work` runs here (one after the other when
    /// there is one thread).
    static func overlapped(threads: Int, _ hash: @escaping @Sendable () -> Void, _ work: () throws -> Void) rethrows {
        if threads <= 1 { hash(); return try work() }
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group, execute: hash)
        defer { group.wait() }
        try work()
    }

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

    /// Feeds pieces of a stream to `body` as windows that end at record boundaries,
    /// carrying each piece's unfinished last record over to the next window.
    final class WindowAssembler {
        let source: UInt32
        package let date: CivilDate
        let body: (Window) throws -> UInt64
        var carry: [UInt8] = []
        var offset: UInt64 = 0
        var line: UInt64 = 1
        let maxWindow: Int

        package init(source: UInt32, date: CivilDate, maxWindow: Int = SourceReader.maxWindow, body: @escaping (Window) throws -> UInt64) {
            self.source = source; self.date = date; self.body = body
            self.maxWindow = min(maxWindow, SourceReader.maxWindow)
        }

        /// Adds the next pieces of the stream, in order.
        func add(_ pieces: [UnsafeRawBufferPointer]) throws {
            _ = try add(count: pieces.reduce(0) { $0 + $1.count }) { out in
                var at = 0
                for p in pieces where p.count > 0 {
                    (out.baseAddress! + at).copyMemory(from: p.baseAddress!, byteCount: p.count)
                    at += p.count
                }
                return at
            }
        }

        /// Adds up to `count` next bytes of the stream, which `fill` writes straight into
        /// the memory they will be parsed from and returns how many it wrote (fewer when
        /// the stream is damaged part-way). Returns that number.
        func add(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
            // `fill` runs even for no bytes: it is what checks frames that declare none.
            let buffer = OwnedBytes(count: carry.count + count)
            carry.withUnsafeBytes { c in
                if c.count > 0 { buffer.pointer.copyMemory(from: c.baseAddress!, byteCount: c.count) }
            }
            let filled = try fill(UnsafeMutableRawBufferPointer(start: buffer.pointer + carry.count, count: count))
            precondition(filled >= 0 && filled <= count, "filled \(filled) of \(count) bytes")
            let total = carry.count + filled
            guard total > 0 else { return filled }
            try cut(UnsafeRawBufferPointer(start: buffer.pointer, count: total), owner: buffer)
            return filled
        }

        /// Adds the next `count` bytes of the stream, which `buffer` holds from `start` on.
        /// The carried bytes are copied into the room before `start` when they fit, so the
        /// piece is parsed where it was decompressed; else the two are joined in a copy.
        func add(_ buffer: OwnedBytes, start: Int, count: Int) throws {
            guard carry.count <= start else {
                try add([UnsafeRawBufferPointer(start: buffer.pointer + start, count: count)])
                return
            }
            let from = start - carry.count
            carry.withUnsafeBytes { c in
                if c.count > 0 { (buffer.pointer + from).copyMemory(from: c.baseAddress!, byteCount: c.count) }
            }
            guard carry.count + count > 0 else { return }
            try cut(UnsafeRawBufferPointer(start: buffer.pointer + from, count: carry.count + count), owner: buffer)
        }

        /// Emits `all` (the carried bytes, then new ones, in `owner`'s memory) as windows
        /// ending at record boundaries, and keeps its unfinished last record as the carry.
        private func cut(_ all: UnsafeRawBufferPointer, owner buffer: OwnedBytes) throws {
            // Windows of at most `maxWindow` bytes (offsets inside a window are 32-bit).
            var from = 0
            while all.count - from > maxWindow {
                let limit = from + maxWindow
                let slice = UnsafeRawBufferPointer(rebasing: all[from..<limit])
                var cut = from + (RecordBoundaries.lastRecordStart(slice) ?? 0)
                if cut == from { cut = SourceReader.lineEnd(all, before: limit, after: from) }
                try emit(UnsafeRawBufferPointer(rebasing: all[from..<cut]), owner: buffer)
                from = cut
            }
            let rest = UnsafeRawBufferPointer(rebasing: all[from...])
            var cut = from + (RecordBoundaries.lastRecordStart(rest) ?? 0)
            if all.count - cut > maxWindow / 2 {
                // Endless continuation lines: cut at a line end rather than grow without bound.
                cut = SourceReader.lineEnd(all, before: all.count, after: from)
            }
            carry = Array(all[cut...])
            if cut > from { try emit(UnsafeRawBufferPointer(rebasing: all[from..<cut]), owner: buffer) }
        }

        /// The stream has ended: the carried bytes are the last window.
        func finish() throws {
            guard !carry.isEmpty else { return }
            let buffer = OwnedBytes(count: carry.count)
            carry.withUnsafeBytes { buffer.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            carry = []
            try emit(buffer.buffer, owner: buffer)
        }

        /// The last window ended inside a line (cut at `maxWindow`).
        private var continues = false

        private func emit(_ bytes: UnsafeRawBufferPointer, owner: OwnedBytes) throws {
            let window = Window(bytes: bytes, owner: owner, source: source, date: date,
                                streamOffset: offset, firstLineNumber: line, continuesLine: continues)
            line += try body(window)
            offset += UInt64(bytes.count)
            // Windows end at a record or a line end, except when cut inside a line (the
            // stream's last window may also end without one; nothing follows it).
            let inside = bytes.count > 0 && bytes[bytes.count - 1] != 10
            line = SourceReader.nextLineNumber(line, continued: continues, endsInsideALine: inside)
            continues = inside
        }
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

    /// A file cut short while it was read: what was read is indexed, the rest is not.
    static func shrank(_ path: String, from: UInt64, to: UInt64) -> IOError {
        IOError(path: path, offset: to, message: "the file shrank from \(from) to \(to) bytes while it was read (truncated or rotated under maildex); indexed up to here")
    }

    static func readZstd(_ file: MappedFile, _ source: UInt32, _ date: CivilDate, _ options: ReadOptions,
                         _ body: @escaping (Window) throws -> UInt64) throws -> ReadSummary {
        let all = file.bytes
        var summary = ReadSummary()
        let hasher = SHA256Hasher()
        let hashBox = UncheckedBox((hasher, all))
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { hashBox.value.0.update(hashBox.value.1) }
        // The hash reads the mapping: wait for it on every way out. (Its digest is set
        // below: a `defer` runs after `return summary` has copied the summary.)
        defer { group.wait() }

        let (frames, scanError) = Zstd.frames(all)
        let dataFrames = frames.filter { !$0.skippable }
        summary.frames = dataFrames.count
        let assembler = WindowAssembler(source: source, date: date, maxWindow: options.maxWindow, body: body)
        // Frames are decompressed whole, several at once, then parsed in parallel. A frame
        // too large for that (it says so, or it declares no size and turns out larger than
        // `wholeFrameLimit`, or is surely so by its compressed size) is streamed on its own:
        // one core decompressing while the other parses, as for a single-frame archive.
        let limit = options.wholeFrameLimit
        func streamed(_ f: Zstd.Frame) -> Bool {
            if let size = f.contentSize { return size > limit }
            return f.compressedSize > limit / 4
        }
        func corrupt(_ f: Zstd.Frame, _ e: Error) -> IOError {
            IOError(path: file.path, offset: UInt64(f.offset), message: "corrupt zstd frame: \(e)")
        }
        func stream(_ f: Zstd.Frame) throws {
            summary.error = try streamFrame(file, f.offset..<(f.offset + f.compressedSize), options, assembler, &summary.plainBytes)
        }
        if dataFrames.count >= 2 {
            var i = 0
            while i < dataFrames.count, summary.error == nil {
                if streamed(dataFrames[i]) { try stream(dataFrames[i]); i += 1; continue }
                // A batch of frames whose text (declared, or guessed at 8 times the
                // compressed bytes) stays within two windows.
                var j = i, compressed = 0, expected = 0
                while j < dataFrames.count, !streamed(dataFrames[j]), j - i < max(2, options.threads * 4),
                      compressed < options.windowSize / 4 || j - i < options.threads,
                      j == i || expected + (dataFrames[j].contentSize ?? dataFrames[j].compressedSize * 8) <= options.windowSize * 2 {
                    compressed += dataFrames[j].compressedSize
                    expected += dataFrames[j].contentSize ?? dataFrames[j].compressedSize * 8
                    j += 1
                }
                let batch = Array(dataFrames[i..<j])
                if batch.allSatisfy({ $0.contentSize != nil }) {
                    // Sizes known: each frame is decompressed, on every core, straight
                    // into its place in the buffer its windows are parsed from (no copy).
                    // A damaged frame ends the stream: the frames before it are kept.
                    var ends = [Int](), total = 0
                    for f in batch { total += f.contentSize!; ends.append(total) }
                    var damaged: (frame: Int, error: Error)? = nil
                    let added = try assembler.add(count: total) { out in
                        let target = UncheckedBox(out)
                        let errors = Parallel.map(batch.count, threads: options.threads) { k -> Error? in
                            let start = k == 0 ? 0 : ends[k - 1]
                            do {
                                try Zstd.decompressFrame(all, batch[k], into: UnsafeMutableRawBufferPointer(rebasing: target.value[start..<ends[k]]))
                                return nil
                            } catch { return error }
                        }
                        guard let k = errors.firstIndex(where: { $0 != nil }) else { return total }
                        damaged = (k, errors[k]!)
                        return k == 0 ? 0 : ends[k - 1]
                    }
                    summary.plainBytes += UInt64(added)
                    if let damaged { summary.error = corrupt(batch[damaged.frame], damaged.error) }
                    i = j
                    continue
                }
                // A frame that declares no size (here at least one does) may hold more than
                // guessed: each may take its share of two windows at most, so the batch stays
                // within them.
                let sizeless = batch.filter { $0.contentSize == nil }.count
                let declared = batch.reduce(0) { $0 + ($1.contentSize ?? 0) }
                let share = min(limit, max(1 << 20, (options.windowSize * 2 - declared) / sizeless))
                let results = Parallel.map(batch.count, threads: options.threads) { k -> Result<[UInt8], Error> in
                    Result { try Zstd.decompressFrame(all, batch[k], limit: batch[k].contentSize == nil ? share : limit) }
                }
                var pieces = [[UInt8]]()
                var tooLarge: Int? = nil
                for (k, r) in results.enumerated() {
                    switch r {
                    case .success(let bytes): pieces.append(bytes)
                    case .failure(let e) where e is Zstd.TooLarge && batch[k].contentSize == nil:
                        tooLarge = k
                    case .failure(let e):
                        summary.error = corrupt(batch[k], e)
                    }
                    if summary.error != nil || tooLarge != nil { break }
                }
                try withBuffers(pieces) { try assembler.add($0) }
                summary.plainBytes += pieces.reduce(0) { $0 + UInt64($1.count) }
                if let k = tooLarge, summary.error == nil {
                    try stream(batch[k])
                    i += k + 1
                } else {
                    i = j
                }
            }
        } else if !dataFrames.isEmpty || (frames.isEmpty && scanError != nil) {
            // One frame or an unreadable header: stream it, decompressing on another
            // thread while this one parses.
            let end = dataFrames.last.map { $0.offset + $0.compressedSize } ?? all.count
            let start = dataFrames.first?.offset ?? 0
            summary.error = try streamFrame(file, start..<end, options, assembler, &summary.plainBytes)
        }
        if summary.error == nil, let scanError {
            summary.error = IOError(path: file.path, offset: UInt64(scanError.offset),
                                    message: "not a valid zstd frame (\(scanError.message))")
        }
        if summary.error == nil, file.size < file.sizeWhenOpened {
            summary.error = shrank(file.path, from: UInt64(file.sizeWhenOpened), to: UInt64(file.size))
        }
        try assembler.finish()
        group.wait()
        summary.fileBytes = UInt64(all.count)
        summary.sha256 = hasher.finish()
        return summary
    }

    static func withBuffers(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> Void) rethrows {
        var pointers = [UnsafeRawBufferPointer]()
        func nest(_ k: Int) throws {
            if k == arrays.count { try body(pointers); return }
            try arrays[k].withUnsafeBytes { p in pointers.append(p); try nest(k + 1) }
        }
        try nest(0)
    }

    /// Streams one frame: a producer thread decompresses pieces into a small queue.
    static func streamFrame(_ file: MappedFile, _ range: Range<Int>, _ options: ReadOptions,
                            _ assembler: WindowAssembler, _ plainBytes: inout UInt64) throws -> IOError? {
        let queue = PieceQueue(capacity: 2)
        let pieceSize = max(1 << 20, options.windowSize / 2)
        let headroom = max(0, options.streamHeadroom)
        let input = UncheckedBox(UnsafeRawBufferPointer(rebasing: file.bytes[range]))
        let path = file.path, base = range.lowerBound
        let producer = DispatchGroup()
        DispatchQueue.global().async(group: producer) {
            let stream = Zstd.StreamDecompressor()
            var inPos = 0
            var error: IOError? = nil
            while true {
                // Decompressed into memory the windows are parsed from (not zeroed first).
                let piece = OwnedBytes(count: headroom + pieceSize)
                var filled = 0
                do {
                    filled = try stream.fill(UnsafeMutableRawBufferPointer(start: piece.pointer + headroom, count: pieceSize),
                                             from: input.value, inputPosition: &inPos)
                } catch {
                    queue.put(.failure(IOError(path: path, offset: UInt64(base + inPos), message: "corrupt zstd data: \(error)")))
                    break
                }
                if filled == 0 {
                    if !stream.atFrameEnd {
                        error = IOError(path: path, offset: UInt64(base + inPos), message: "zstd frame is truncated")
                    }
                    break
                }
                if queue.put(.success(StreamPiece(buffer: piece, start: headroom, count: filled))) == false { return }
            }
            if let error { queue.put(.failure(error)) }
            queue.put(nil)
        }
        defer { queue.cancel(); producer.wait() }
        while let next = queue.take() {
            switch next {
            case .success(let piece):
                try assembler.add(piece.buffer, start: piece.start, count: piece.count)
                plainBytes += UInt64(piece.count)
            case .failure(let e):
                return e
            }
        }
        return nil
    }
}

/// Decompressed bytes: `count` of them in `buffer` from `start` on.
struct StreamPiece {
    package let buffer: OwnedBytes
    let start: Int
    package let count: Int
}

/// A bounded hand-off between the decompressing thread and the parsing one.
final class PieceQueue: @unchecked Sendable {
    private var items: [Result<StreamPiece, IOError>?] = []
    private let lock = NSLockLite()
    private let slots: DispatchSemaphore
    private let filled = DispatchSemaphore(value: 0)
    private var cancelled = false

    package init(capacity: Int) { slots = DispatchSemaphore(value: capacity) }

    /// Adds an item (nil marks the end); false once the consumer has gone.
    @discardableResult
    func put(_ item: Result<StreamPiece, IOError>?) -> Bool {
        slots.wait()
        lock.lock(); defer { lock.unlock() }
        if cancelled { slots.signal(); return false }
        items.append(item)
        filled.signal()
        return true
    }

    /// The next item; nil at the end.
    func take() -> Result<StreamPiece, IOError>? {
        filled.wait()
        lock.lock()
        let item = items.removeFirst()
        lock.unlock()
        slots.signal()
        return item
    }

    /// The consumer stops: wake the producer if it waits for room.
    func cancel() {
        lock.lock(); cancelled = true; items.removeAll(); lock.unlock()
        slots.signal(); slots.signal()
    }
}
