import MaildexSupport
import MaildexParse
import MaildexRead

/// Takes the length of every line read, in order (the index keeps them as a file's line
/// table, so a session's byte offsets need not be stored per line).
package protocol LineLengthSink: AnyObject {
    /// The lengths (without `\n`) of the next lines.
    func append(_ lengths: [UInt32])
    /// The last line has no `\n` after it: the next length appended is its rest.
    func joinLastToNext()
}

/// Counts of what was read.
public struct ParseCounts: Sendable, Equatable {
    public var bytes: UInt64 = 0
    public var lines: UInt64 = 0
    public var records: UInt64 = 0
    public var unparsed: UInt64 = 0
    public init() {}
}

/// Turns windows of log text into sessions: cuts each window into chunks at record
/// boundaries, parses the chunks in parallel, stitches their fragments in order,
/// and builds finished sessions in parallel.
public final class Sessionizer {
    public let threads: Int
    public let chunkSize: Int
    let stitcher: SessionStitcher
    public private(set) var counts = ParseCounts()
    /// Unparsed lines, a run at a time: lines that were no record and followed none
    /// (`damaged` false), or a line that begins with a time but is no record with the
    /// lines after it (`damaged` true): the source, the byte offset of the first line in
    /// its stream, and the number of lines. The first `maxReports` are kept; the rest
    /// are counted in `unparsedReportsLeftOut`.
    public private(set) var unparsedReports: [UnparsedRun] = []
    public private(set) var unparsedReportsLeftOut = 0
    public static let maxReports = 1000

    public struct UnparsedRun: Sendable, Equatable {
        public var source: UInt32
        public var offset: UInt64
        public var lines: Int
        public var damaged: Bool
    }

    private func report(_ r: UnparsedRun) {
        if unparsedReports.count < Self.maxReports { unparsedReports.append(r) } else { unparsedReportsLeftOut += 1 }
    }

    /// Where the length of every line goes, for the current file's line table (the
    /// index's); nil when nobody asks.
    package var lineLengths: (any LineLengthSink)? = nil

    public init(threads: Int, chunkSize: Int = 1 << 20, firstSessionNumber: UInt64 = 0,
                firstTrailNumber: UInt64 = SessionStitcher.trailBase) {
        self.threads = max(1, threads)
        self.chunkSize = max(256, chunkSize)
        stitcher = SessionStitcher(firstNumber: firstSessionNumber, firstTrailNumber: firstTrailNumber)
    }

    public var nextSessionNumber: UInt64 { stitcher.nextNumber }
    public var nextTrailNumber: UInt64 { stitcher.nextTrailNumber }
    public var openSessions: Int { stitcher.openCount }

    /// Parses a window (which must start at a record or at its file's start and end
    /// at a record boundary or its file's end) and returns the sessions it finished.
    /// The message trails it found go to `trails`.
    public func feed(_ window: Window) -> [Session] { sessionsKeepingTrails(build(parse(window))) }

    /// The message trails `feed` and `finish` found (each a `Session` whose channel
    /// `isTrail`), in order; the indexer's path (`feedPending`) writes them with the sessions.
    public private(set) var trails: [Session] = []

    private func sessionsKeepingTrails(_ built: [Session]) -> [Session] {
        guard built.contains(where: { $0.channel.isTrail }) else { return built }
        trails += built.filter { $0.channel.isTrail }
        return built.filter { !$0.channel.isTrail }
    }

    /// As `feed`, but the finished sessions stay as the stitcher's fragments, in number
    /// order, for a writer that copies their lines straight into its blocks.
    package func feedPending(_ window: Window) -> [SessionStitcher.Pending] {
        parse(window).sorted { $0.number < $1.number }
    }

    private func parse(_ window: Window) -> [SessionStitcher.Pending] {
        let p = window.bytes
        guard p.count > 0 else { return [] }
        let ranges = RecordBoundaries.split(p, target: chunkSize)
        let lengths = lineLengths != nil
        let continues = window.continuesLine
        let results = Parallel.map(ranges.count, threads: threads) {
            ChunkParser.parse(p, ranges[$0], lengths: lengths, firstLineContinues: continues && $0 == 0)
        }
        var line = window.firstLineNumber
        for (i, r) in results.enumerated() {
            let continued = stitcher.add(r, window: window, chunkFirstLine: line)
            if lengths { lineLengths!.append(r.lengths) }
            line += UInt64(r.lines)
            counts.lines += UInt64(r.lines)
            counts.records += UInt64(r.records)
            var orphans = r.unparsed - continued, first = continued
            if i == 0, continues, continued == 0, orphans > 0 {
                // The rest of a line whose start was already counted unparsed.
                orphans -= 1; first = 1
            }
            if orphans > 0 {
                counts.unparsed += UInt64(orphans)
                report(UnparsedRun(source: window.source, offset: window.streamOffset + UInt64(r.leading[first].offset),
                                   lines: orphans, damaged: false))
            }
            for m in r.malformed {
                counts.unparsed += UInt64(m.lines)
                report(UnparsedRun(source: window.source, offset: window.streamOffset + UInt64(m.offset), lines: m.lines, damaged: true))
            }
            _ = i
        }
        // The first line went on from the previous window's last, where it was counted.
        if continues, counts.lines > 0 { counts.lines -= 1 }
        counts.bytes += UInt64(p.count)
        if lengths, p[p.count - 1] != 10 { lineLengths!.joinLastToNext() }
        let done = stitcher.takeFinished()
        // Sessions still open may point into this window: give them their own copy.
        stitcher.detachOpen()
        return done
    }

    /// The next window, of source `source`, goes on from a part of the same file that
    /// ended with `tail` (its last bytes, read by a run before): lines before its first
    /// record continue the record `tail` ends with, as they would across windows of one read.
    public func continuing(source: UInt32, after tail: UnsafeRawBufferPointer) {
        guard tail.count > 0 else { return }
        let from = RecordBoundaries.lastRecordStart(tail) ?? 0
        let r = ChunkParser.parse(tail, from..<tail.count, lengths: false)
        stitcher.continueLastLine(r.endsIn ?? .noSession, source: source)
    }

    /// Sessions still open, to carry into a later run (they stay open here).
    public func carry() -> [CarriedSession] { stitcher.openSessions() }

    /// Continues sessions a previous run left open.
    public func resume(_ carried: [CarriedSession]) { stitcher.resume(carried) }

    /// Ends the file set: every session still open is finished, incomplete.
    public func finish() -> [Session] { sessionsKeepingTrails(build(stitcher.finishAll())) }

    private func build(_ finished: [SessionStitcher.Pending]) -> [Session] {
        let done = finished.sorted { $0.number < $1.number }
        return Parallel.map(done.count, threads: threads) { i in
            let session = SessionStitcher.build(done[i])
            done[i].fragments = []  // free the fragments on this worker, not later on the main thread
            return session
        }
    }

    /// Sessions of one in-memory log text (a single file), for tests and tools.
    public static func sessions(of text: [UInt8], source: UInt32 = 0, date: CivilDate, threads: Int = 1,
                                chunkSize: Int = 1 << 20) -> (sessions: [Session], counts: ParseCounts) {
        let s = Sessionizer(threads: threads, chunkSize: chunkSize)
        var out = [Session]()
        text.withUnsafeBytes { p in
            let w = Window(bytes: p, owner: nil, source: source, date: date, streamOffset: 0, firstLineNumber: 1)
            out += s.feed(w)
        }
        out += s.finish()
        return (out, s.counts)
    }
}
