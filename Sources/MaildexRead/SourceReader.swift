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
    /// Memory-map files at rest (else `read(2)` every file: plain ones in windows).
    public var useMmap = true
    /// A file modified less than this many seconds before it is opened (or dated in the
    /// future) is read with `read(2)` even when `useMmap`: a log still being written may
    /// be truncated or rotated under maildex, and touching a mapped page past a truncated
    /// end kills the process (SIGBUS). Only files at rest are mapped.
    public var restSeconds = 600
    /// Whether a plain file not at rest is read only up to its last line end (`read`). Off
    /// by default (a file is read whole); the indexer, which reads on where a run stopped,
    /// sets it for the newest file of a run in order only, the one the server may still be
    /// writing (an older one is finished, and a later run that read on from its end after
    /// a newer file would break the chain of sessions across files).
    public var holdBackUnfinished = false
    /// The time now (seconds since 1970), for `restSeconds`; tests set it.
    public var now: @Sendable () -> Int = { Int(time(nil)) }
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
    /// The file was memory-mapped (else read with `read(2)`).
    public var mapped = false
    /// Where this read began: 0, or the bytes indexed by an earlier run (`ReadStart`).
    public var startOffset: UInt64 = 0
    /// The bytes after the last `\n` of a file still being written, left unread for the
    /// next run (`SourceReader.read`): the server may be writing that line.
    public var heldBack: UInt64 = 0
}

/// Where to go on reading a plain file that an earlier run indexed up to `offset` and
/// that has grown since (today's log, still being written).
public struct ReadStart: @unchecked Sendable {
    /// The bytes indexed before; they end with a `\n`.
    public var offset: UInt64
    /// The number of the first line after them.
    public var line: UInt64
    /// A hasher that has hashed those bytes, so the digest recorded covers the whole file.
    public var hasher: SHA256Hasher
    /// Their last bytes (up to 64 KiB): the record the part read before ended with.
    public var before: [UInt8]
    public init(offset: UInt64, line: UInt64, hasher: SHA256Hasher, before: [UInt8]) {
        self.offset = offset; self.line = line; self.hasher = hasher; self.before = before
    }
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
    ///
    /// A plain file not at rest (modified in the last `options.restSeconds`), under
    /// `options.holdBackUnfinished`, is read up to its last `\n` only: the server may be
    /// writing the line after it, which the next run reads whole (`ReadSummary.heldBack`). With `start`, a plain file
    /// is read from there on (a file that grew since an earlier run indexed its start).
    public static func read(path: String, source: UInt32, date: CivilDate, options: ReadOptions, from start: ReadStart? = nil,
                            body: @escaping (Window) throws -> UInt64) throws -> ReadSummary {
        let isZstd = Self.isZstd(path)
        precondition(start == nil || !isZstd, "a zstd archive is read whole")
        let rest = atRest(path, options)
        let map = options.useMmap && rest
        if !isZstd && !map {
            return try readPlainStreaming(path, source, date, options, start, holdBack: !rest && options.holdBackUnfinished, body)
        }
        // A file not mapped is an archive read into memory (it is a few times smaller
        // than its text), so that a file truncated under maildex cannot raise SIGBUS.
        let file = try MappedFile(path: path, mapped: map)
        var summary = isZstd ? try readZstd(file, source, date, options, body) : try readPlainMapped(file, source, date, options, start, body)
        summary.mapped = file.mapped
        return summary
    }

    /// Whether a file of this name is read as a zstd archive.
    public static func isZstd(_ path: String) -> Bool { path.hasSuffix(".zst") || path.hasSuffix(".zstd") }

    /// Whether `path` was last modified at least `options.restSeconds` ago (so it may be
    /// mapped). A file that cannot be examined is not at rest: opening it reports why.
    static func atRest(_ path: String, _ options: ReadOptions) -> Bool {
        // 0: every file is at rest, even one whose time is a tick ahead of the clock (a file
        // just written: found by FuzzIndex, whose file was then held back a line).
        if options.restSeconds <= 0 { return true }
        guard let version = FileVersion.of(path) else { return false }
        return options.now() - Int(version.modifiedNanoseconds / 1_000_000_000) >= options.restSeconds
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

    /// A file cut short while it was read: what was read is indexed, the rest is not.
    static func shrank(_ path: String, from: UInt64, to: UInt64) -> IOError {
        IOError(path: path, offset: to, message: "the file shrank from \(from) to \(to) bytes while it was read (truncated or rotated under maildex); indexed up to here")
    }
}
