#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// What a segment holds, for `--json` summaries and `stats`.
public struct SegmentStats: Sendable, Equatable {
    public var files: UInt64 = 0
    public var plainBytes: UInt64 = 0
    public var lines: UInt64 = 0
    public var sessions: UInt64 = 0
    public var messages: UInt64 = 0
    /// Message trails (format 4).
    public var trails: UInt64 = 0
    public init() {}

    /// Reads what `json()` wrote (a flat object of unsigned numbers); missing keys are 0.
    init(json: String) {
        func number(_ key: String) -> UInt64 {
            guard let r = json.utf8.firstRange(of: Array("\"\(key)\":".utf8)) else { return 0 }
            var v: UInt64 = 0
            for c in json.utf8[r.upperBound...] {
                guard c >= 48 && c <= 57, v < UInt64.max / 10 - 9 else { break }
                v = v * 10 + UInt64(c - 48)
            }
            return v
        }
        files = number("files"); plainBytes = number("plainBytes"); lines = number("lines")
        sessions = number("sessions"); messages = number("messages"); trails = number("trails")
    }

    func json() -> String {
        var o = JSONObjectWriter()
        o.uint("files", files); o.uint("plainBytes", plainBytes); o.uint("lines", lines)
        o.uint("sessions", sessions); o.uint("messages", messages); o.uint("trails", trails)
        return o.finish()
    }
}

/// Writes one segment: the session store (zstd blocks), the session table, the
/// sources, the term dictionary and the postings. Sessions may arrive in any
/// order; the tables are sorted when the segment is finished.
///
/// Memory: postings are held until `finish()` as one growing array per term; the
/// indexer starts a new segment when `postingsCount` passes its limit, which
/// bounds memory however large the input.
public final class SegmentWriter {
    public let name: String
    let file: AtomicFile
    /// Encodes sessions into blocks (shareable between the segments of a run).
    let encoder: Encoder

    var blocks: [(offset: UInt64, compressed: UInt32, plain: UInt32, crc: UInt32, sessions: UInt32)] = []
    var entries: [SessionEntry] = []
    let terms = TermTable()
    /// One entry per (term, session): term id << 40 | session number.
    var postings: [UInt64] = []
    /// What the writer holds, in postings, for the roll-over test: term ids have 24 bits
    /// and term bytes 32-bit offsets, so many or long terms also count as full.
    public var postingsCount: Int {
        max(postings.count, terms.count * 4, terms.count >= 12_000_000 ? Int.max : 0,
            terms.arenaBytes >= 3 << 30 ? Int.max : 0)
    }
    var sources: [SourceRecord] = []
    /// Line tables of the sources read in this segment's run (see `LineTable`).
    var lineTables: [(source: UInt32, bytes: [UInt8])] = []
    var replaced: [UInt64] = []
    /// Sessions whose earlier copies (written incomplete by a previous run) this run's
    /// copies replace; recorded in the segment that holds each new copy.
    public var supersedes: Set<UInt64> = []
    public var stats = SegmentStats()
    /// Wall time of each step of `finish`, for tuning (`MAILDEX_PHASES=1 maildex index`).
    public private(set) var finishSeconds: [String: Double] = [:]

    /// The store's zstd level when indexing. At level 1 the index of this generator's
    /// logs (2 × 447 MB) is 0.9% larger than at level 3 and indexing takes 6% less CPU
    /// (4 alternating runs each, 2026-12-02). `compact` writes at the default, 3.
    public static let indexingLevel: Int32 = 1

    public convenience init(directory: String, name: String, threads: Int, blockTarget: Int = SegmentFormat.storeBlockTarget, level: Int32 = 3,
                            expectedPostings: Int = 0) throws {
        try self.init(directory: directory, name: name, encoder: Encoder(threads: threads, blockTarget: blockTarget, level: level),
                      expectedPostings: expectedPostings)
    }

    init(directory: String, name: String, encoder: Encoder, expectedPostings: Int = 0) throws {
        self.name = name
        self.encoder = encoder
        // Room for the postings up front, so the array does not double past what is needed.
        postings.reserveCapacity(expectedPostings > 0 ? expectedPostings + expectedPostings / 8 : 0)
        file = try AtomicFile(path: directory + "/" + name)
        var w = ByteWriter()
        w.raw(SegmentFormat.headerMagic); w.u32(SegmentFormat.version); w.u32(0)
        try file.write(w.bytes)
    }

    public var sessionCount: Int { entries.count }

    /// Adds finished sessions: blocks are encoded and compressed in parallel, then
    /// written in order; terms go to the postings.
    /// A session's server is the one its first line's source names in `servers`, else
    /// the encoder's (the run's).
    public func add(_ sessions: [Session], servers: [UInt32: [UInt8]] = [:]) throws {
        try add(count: sessions.count, size: { sessions[$0].text.count + 16 * sessions[$0].lines.count }) {
            let r = SessionRecord(session: sessions[$0])
            r.server = servers[r.firstSource]
            return r
        }
    }

    /// Adds sessions straight from the stitcher's fragments: each line is copied once,
    /// from the log into its block.
    func add(pending: [SessionStitcher.Pending]) throws { try append(encoder.encode(pending: pending)) }

    /// `size(i)` estimates session i's bytes; `record(i)` is called on worker threads.
    /// `prepare(range)` is called on the worker before a block's records are made,
    /// `release(range)` once its sessions are encoded.
    func add(count: Int, size: (Int) -> Int, prepare: (Range<Int>) -> Void = { _ in }, record: (Int) -> SessionRecord,
             release: (Range<Int>) -> Void = { _ in }) throws {
        try append(encoder.encode(count: count, size: size, prepare: prepare, record: record, release: release))
    }

    /// Sessions encoded into compressed blocks and term batches, not yet in a segment.
    /// Made on worker threads by an `Encoder`; appended in order by `append`.
    struct Batch: @unchecked Sendable {
        struct Block {
            var bytes: [UInt8]
            var plain: Int
            var crc: UInt32
            var terms: TermBatch
            var rows: [SessionEntry]
            var messages: Int
            /// Rows that are message trails, not sessions.
            var trails: Int

            /// A compressed block (`plain` bytes once decompressed) holding `records`,
            /// each at its offset: its terms and session-table rows are made here.
            init(compressed: [UInt8], plain: Int, crc: UInt32? = nil, records: [SessionRecord], offsets: [UInt32]) {
                bytes = compressed
                self.plain = plain
                self.crc = crc ?? CRC32C.checksum(compressed)
                terms = TermBatch()
                terms.reserve(terms: records.count * 16, bytes: records.count * 400)
                rows = []
                rows.reserveCapacity(records.count)
                messages = 0
                trails = 0
                for (k, r) in records.enumerated() {
                    terms.add(session: r)
                    if r.channel.isTrail { trails += 1 } else { messages += r.facts.messages.count }
                    rows.append(SessionEntry(number: r.number, block: 0, offsetInBlock: offsets[k], date: r.date,
                                             startSecond: r.startSecond, lineID: r.channel.id,
                                             flags: (r.complete ? 1 : 0) | UInt32(r.channel.kind & 0xFF) << 8
                                                | UInt32(min(255, r.facts.messages.count)) << 16
                                                | UInt32(min(255, r.facts.rejected.count)) << 24))
                }
            }
        }
        var blocks: [Block] = []
        var sessions = 0
        /// Seconds the encoding took (wall time).
        var seconds = 0.0
    }

    /// Cuts sessions into blocks and encodes, compresses and extracts the terms of
    /// the blocks in parallel. Holds no segment state: a sink can encode the next batch
    /// while a writer appends the previous one (and rolls over to a new segment).
    final class Encoder: @unchecked Sendable {
        let threads: Int
        let blockTarget: Int
        let compressors: Zstd.BlockCompressors
        /// The server of the sessions encoded (an indexing run's `--server`), for those
        /// whose record names none.
        let server: [UInt8]?

        init(threads: Int, blockTarget: Int, level: Int32, server: [UInt8]? = nil) {
            self.server = server
            self.threads = max(1, threads)
            self.blockTarget = blockTarget
            compressors = Zstd.BlockCompressors(level: level)
        }

        /// Encodes sessions straight from the stitcher's fragments, and frees them.
        func encode(pending: [SessionStitcher.Pending]) -> Batch {
            encode(count: pending.count, size: { i in
                var n = pending[i].bytes
                for f in pending[i].fragments { n += 16 * f.lines.count }
                return n
            }, prepare: { range in
                // A block's lines lie scattered over the window, and the encoder would stall
                // on each one's first byte: load them all into cache first, in a loop of
                // independent loads (a block's lines fit in L2).
                var touched = 0
                for i in range { touched &+= SessionStitcher.touch(pending[i]) }
                blackHole(touched)
            // The fragments are dropped once encoded: their facts are moved, not copied.
            }, record: { SessionStitcher.record(pending[$0], taking: true) },
            // Each block's fragments are freed on the worker that wrote them, not later
            // on the writer's thread.
            release: { for i in $0 { pending[i].fragments = [] } })
        }

        func encode(count: Int, size: (Int) -> Int, prepare: (Range<Int>) -> Void = { _ in },
                    record: (Int) -> SessionRecord, release: (Range<Int>) -> Void = { _ in }) -> Batch {
            let clock = Stopwatch()
            guard count > 0 else { return Batch() }
            // Cut the batch into blocks of about `blockTarget` bytes.
            var groups = [Range<Int>]()
            var start = 0, fill = 0
            for i in 0..<count {
                fill += size(i) + 64
                if fill >= blockTarget { groups.append(start..<(i + 1)); start = i + 1; fill = 0 }
            }
            if start < count { groups.append(start..<count) }
            let compressors = self.compressors
            let blocks = Parallel.map(groups.count, threads: threads) { g -> Batch.Block in
                prepare(groups[g])
                var records = groups[g].map(record)
                if let server = self.server { for r in records where r.server == nil { r.server = server } }
                defer { records = []; release(groups[g]) }
                // The columns are compressed where the encoder wrote them.
                let (block, plain, offsets) = SessionCodec.withEncodedBlock(records[...], inlineOffsets: false) { parts, offsets in
                    (compressors.with { $0.compress(frames: [[parts[0], parts[1]], [parts[2]], [parts[3]]]) },
                     parts.reduce(0) { $0 + $1.count }, offsets)
                }
                return Batch.Block(compressed: block, plain: plain, records: records, offsets: offsets)
            }
            return Batch(blocks: blocks, sessions: count, seconds: clock.seconds)
        }
    }

    /// Writes an encoded batch's blocks and adds its sessions and terms (sequential).
    func append(_ batch: Batch) throws {
        for e in batch.blocks {
            let blockNumber = UInt32(blocks.count)
            blocks.append((file.position, UInt32(e.bytes.count), UInt32(e.plain), e.crc, UInt32(e.rows.count)))
            try file.write(e.bytes)
            for var row in e.rows {
                row.block = blockNumber
                entries.append(row)
                if !supersedes.isEmpty, supersedes.contains(row.number) { replaced.append(row.number) }
            }
            stats.messages += UInt64(e.messages)
            stats.sessions += UInt64(e.rows.count - e.trails)
            stats.trails += UInt64(e.trails)
            let sessions = e.terms.sessions
            terms.insert(e.terms) { t, id in postings.append(UInt64(id) << 40 | (sessions[t] & Self.numberMask)) }
        }
    }

    static let numberMask: UInt64 = (1 << 40) - 1

    /// Bits needed to write `x` (0 for 0).
    static func bitLength(_ x: UInt64) -> Int { UInt64.bitWidth - x.leadingZeroBitCount }

    /// Adds the line table of a source (its lines' byte offsets, which the store does
    /// not keep per session line).
    func add(lineTable: LineTable.Builder, source: UInt32) {
        guard lineTable.lineCount > 0 else { return }
        var table = lineTable
        lineTables.append((source, table.encode(source: source)))
    }

    /// Adds a line table as another segment holds it (for `compact`).
    func add(encodedLineTable bytes: [UInt8], source: UInt32) { lineTables.append((source, bytes)) }

    public func add(source: SourceRecord, lines: UInt64) {
        sources.append(source)
        stats.files += 1
        stats.plainBytes += source.plainBytes
        stats.lines += lines
    }

    /// Writes the tables and the footer, then fsyncs and renames the file into place.
    /// Returns the file's size. Each structure's step is in the file of that structure
    /// (`StoreBlocks.swift`, `SessionTable.swift`, `SourceTable.swift`, `Postings.swift`,
    /// `TermDictionary.swift`, `LineTable.swift`), beside the code that reads it.
    public func finish() throws -> UInt64 {
        var out = SegmentSections(file: file)
        try writeBlockIndex(&out)
        try writeSessionTable(&out)
        try writeSources(&out)
        out.phase("tables")
        let postingsLayout = try writePostings(&out)
        try writeTermDictionary(postingsLayout, &out)
        try out.write(.replaces) { p in
            var w = ByteWriter()
            for n in replaced.sorted() { w.u64(n) }
            try p.write(w.bytes, to: file)
        }
        try out.write(.stats) { p in try p.write(Array(stats.json().utf8), to: file) }
        try writeLineTables(&out)
        try out.writeFooter()
        out.phase("rest")
        let size = file.position
        try file.commit()
        out.phase("fsync")
        for (k, v) in out.seconds { finishSeconds[k, default: 0] += v }
        return size
    }

    /// Makes pieces `0..<count` on every core, a round at a time, and writes each in
    /// order before the next round is made (the postings and the term blocks: never held
    /// whole).
    func inPieces<T>(_ count: Int, make: (Int) -> T, write: (Int, T) throws -> Void) throws {
        let round = max(1, encoder.threads) * 2
        for first in stride(from: 0, to: count, by: round) {
            let made = Parallel.map(min(round, count - first), threads: encoder.threads) { make(first + $0) }
            for (i, m) in made.enumerated() { try write(first + i, m) }
        }
    }
}

/// The sections of a segment as `SegmentWriter.finish` writes them, one after another
/// after the store, with the time each step took.
struct SegmentSections {
    let file: AtomicFile
    var infos: [SegmentFormat.SectionInfo]
    var seconds: [String: Double] = [:]
    private var lap = Stopwatch()

    init(file: AtomicFile) {
        self.file = file
        infos = [SegmentFormat.SectionInfo](repeating: .init(), count: SegmentFormat.Section.allCases.count)
        infos[SegmentFormat.Section.store.rawValue] = .init(
            offset: UInt64(SegmentFormat.headerSize), length: file.position - UInt64(SegmentFormat.headerSize),
            crcTableOffset: 0, crcTableCRC: 0)
    }

    /// Ends a step of `finish`: the time since the last one goes to `name`.
    mutating func phase(_ name: String) { seconds[name, default: 0] += lap.seconds; lap = Stopwatch() }

    /// Writes section `s` (its pages' CRC table after it) with `body`.
    mutating func write(_ s: SegmentFormat.Section, _ body: (inout PagedSectionWriter) throws -> Void) throws {
        var p = PagedSectionWriter(offset: file.position)
        try body(&p)
        infos[s.rawValue] = try p.finish(to: file)
    }

    /// The footer (the section table) and the trailer: its length, CRC and magic.
    func writeFooter() throws {
        let sections = infos
    var footer = ByteWriter()
    footer.u32(SegmentFormat.version)
    footer.u32(UInt32(sections.count))
    for s in sections { footer.u64(s.offset); footer.u64(s.length); footer.u64(s.crcTableOffset); footer.u32(s.crcTableCRC); footer.u32(0) }
    try file.write(footer.bytes)
    var trailer = ByteWriter()
    trailer.u32(UInt32(footer.bytes.count))
    trailer.u32(CRC32C.checksum(footer.bytes))
    trailer.raw(SegmentFormat.footerMagic)
    try file.write(trailer.bytes)
    }
}
