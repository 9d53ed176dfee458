#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// Merges an index's segments into as few as memory allows (one, unless the index
/// is very large), dropping session copies that later segments replaced.
/// Readers that opened the old segments keep reading them (the files stay mapped
/// after they are unlinked); new readers see the new manifest.
public enum Compactor {
    public struct Report: Sendable {
        public var segmentsBefore = 0
        public var segmentsAfter = 0
        public var bytesBefore: UInt64 = 0
        public var bytesAfter: UInt64 = 0
        public var sessions = 0
        public var seconds = 0.0
    }

    public static func run(directory: String, threads: Int = 2, segmentPostingsLimit: Int = 24_000_000) throws -> Report {
        let clock = Stopwatch()
        let lock = try IndexLock(directory: directory)
        defer { withExtendedLifetime(lock) {} }
        if let m = try Manifest.load(directory: directory) { Indexer.removeStaleFiles(directory, m) }
        let reader = try IndexReader(directory: directory)
        var manifest = reader.manifest
        var report = Report()
        report.segmentsBefore = manifest.segments.count
        report.bytesBefore = Indexer.indexSize(directory, manifest)
        guard manifest.segments.count > 1 else {
            report.segmentsAfter = manifest.segments.count
            report.bytesAfter = report.bytesBefore
            report.seconds = clock.seconds
            return report
        }
        var generation = manifest.generation
        let merged = try merge(directory: directory, reader: reader, range: 0..<reader.segments.count,
                               generation: &generation, threads: threads, postingsLimit: segmentPostingsLimit)
        report.sessions = merged.sessions
        let written = merged.names
        let old = manifest.segments
        manifest.generation = generation
        manifest.segments = written
        try manifest.store(directory: directory)
        for f in old { unlink(directory + "/" + f) }
        report.segmentsAfter = written.count
        report.bytesAfter = Indexer.indexSize(directory, manifest)
        report.seconds = clock.seconds
        return report
    }

    /// What `mergeTiers` did: segments merged away and segments written in their place.
    public struct TierReport: Sendable, Equatable {
        public var merges = 0
        public var segmentsMerged = 0
        public var segmentsWritten = 0
        public var seconds = 0.0
    }

    /// Merges the newest segments as `policy` says, again and again while it says so
    /// (a merge can make a tier full), storing the manifest after each merge. The
    /// caller holds the index's lock and has stored `manifest`. `report` counts the
    /// merges committed, also when a later one throws; `manifest` is then the stored one.
    static func mergeTiers(directory: String, manifest: inout Manifest, policy: MergePolicy, threads: Int,
                           postingsLimit: Int, report: inout TierReport,
                           starting: ((_ segments: Int, _ bytes: UInt64) -> Void)? = nil) throws {
        let clock = Stopwatch()
        defer { report.seconds += clock.seconds }
        while true {
            // A segment whose size cannot be read counts as too large to merge.
            let sizes = manifest.segments.map { Indexer.fileSize(directory, $0) ?? .max }
            guard let range = policy.plan(sizes) else { break }
            starting?(range.count, sizes[range].reduce(0, +))
            let reader = try IndexReader(directory: directory)
            guard reader.manifest == manifest else { throw MaildexError(.busy, "\(directory): the manifest changed while this run held the index's lock", path: directory) }
            var generation = manifest.generation
            let merged = try merge(directory: directory, reader: reader, range: range, generation: &generation,
                                   threads: threads, postingsLimit: postingsLimit, copyBlocks: true)
            var next = manifest
            next.generation = generation
            next.segments = Array(manifest.segments[..<range.lowerBound]) + merged.names
            try next.store(directory: directory)
            manifest = next
            for f in reader.manifest.segments[range] { unlink(directory + "/" + f) }
            report.merges += 1
            report.segmentsMerged += range.count
            report.segmentsWritten += merged.names.count
            // Merged output that the postings limit split is left as it is: merging it
            // again at once could not make fewer segments.
            if merged.names.count > 1 { break }
        }
    }

    /// Merges the segments `range` of `reader`, a trailing run of its manifest (or all of
    /// it), into new segments named from `generation` on: sessions that a later segment
    /// of the range replaced are dropped, and the numbers that the range's segments
    /// replace in older segments are kept (in the first new segment). Returns the new
    /// segments' names; the caller stores the manifest.
    ///
    /// Blocks are read, checked, decompressed and decoded on `threads` threads, a group at
    /// a time. With `copyBlocks`, a block whose sessions all stay is written as it is
    /// stored (its terms and session-table rows made from the decoded sessions), which
    /// takes a third of the work of encoding and compressing it again; `compact` encodes
    /// every block again, at `level`, for the smallest index.
    static func merge(directory: String, reader: IndexReader, range: Range<Int>, generation: inout UInt64,
                      threads: Int, level: Int32 = 3, postingsLimit: Int, copyBlocks: Bool = false) throws -> (names: [String], sessions: Int) {
        precondition(range.upperBound == reader.segments.count, "only a trailing run of segments can be merged")
        var written = [String]()
        var sessionCount = 0
        var next = generation
        func newWriter() throws -> SegmentWriter {
            next += 1
            return try SegmentWriter(directory: directory, name: Indexer.segmentName(next), threads: threads, level: level)
        }
        var writer = try newWriter()
        func rollOverIfFull() throws {
            guard writer.postingsCount > postingsLimit else { return }
            _ = try writer.finish()
            written.append(writer.name)
            writer = try newWriter()
        }
        if range.lowerBound > 0 {
            var replaced = Set<UInt64>()
            for i in range { replaced.formUnion(try reader.segments[i].replaced()) }
            writer.replaced = Array(replaced)
        }
        enum Piece { case copied(SegmentWriter.Batch.Block), sessions([Session]) }
        // A session's server is its first line's source's.
        var servers = [UInt32: [UInt8]]()
        for (id, src) in reader.sources { if let name = src.server { servers[id] = Array(name.utf8) } }
        // A group: up to 4 blocks a thread, and at most 64 MB of them decompressed.
        let groupBlocks = max(1, threads) * 4, groupBytes = 64 << 20
        for i in range {
            let seg = reader.segments[i]
            let hidden = reader.shadowed[i]
            for src in try seg.sources() { writer.add(source: src, lines: 0) }
            for source in try seg.lineTableSources().keys.sorted() {
                if let t = try seg.encodedLineTable(source) { writer.add(encodedLineTable: t, source: source) }
            }
            var sinceRelease = 0
            var nextBlock = 0
            while nextBlock < seg.blockCount {
                // Located here (that checks index pages, which is not thread-safe); read,
                // checked and decoded on the workers.
                var blocks = [(location: SegmentReader.BlockLocation, count: Int)]()
                var bytes = 0
                while nextBlock < seg.blockCount, blocks.count < groupBlocks, blocks.isEmpty || bytes < groupBytes {
                    let location = try seg.blockLocation(nextBlock)
                    blocks.append((location, try seg.sessionCount(ofBlock: nextBlock)))
                    bytes += location.plain
                    nextBlock += 1
                }
                let pieces = Parallel.map(blocks.count, threads: threads) { k -> Result<Piece, Error> in
                    Result {
                        let raw = try seg.rawBlock(blocks[k].location, sessions: blocks[k].count, keepCompressed: copyBlocks)
                        let keep = hidden.isEmpty ? raw.sessions : raw.sessions.filter { !hidden.contains($0.number) }
                        guard let compressed = raw.compressed, keep.count == raw.sessions.count, !keep.isEmpty else { return .sessions(keep) }
                        return .copied(SegmentWriter.Batch.Block(compressed: compressed, plain: blocks[k].location.plain,
                                                                 crc: blocks[k].location.crc,
                                                                 records: keep.map { session in
                                                                     let r = SessionRecord(session: session)
                                                                     r.server = servers[r.firstSource]
                                                                     return r
                                                                 }, offsets: raw.offsets))
                    }
                }
                // Sessions to encode again go to the encoder together, which encodes their
                // blocks on all threads.
                var encode = [Session]()
                func flush() throws {
                    guard !encode.isEmpty else { return }
                    try writer.add(encode, servers: servers)
                    sessionCount += encode.count
                    encode = []
                }
                for piece in pieces {
                    switch try piece.get() {
                    case .copied(let block):
                        try flush()
                        try writer.append(SegmentWriter.Batch(blocks: [block], sessions: block.rows.count))
                        sessionCount += block.rows.count
                    case .sessions(let sessions):
                        encode += sessions
                        continue
                    }
                    try rollOverIfFull()
                }
                try flush()
                try rollOverIfFull()
                // The old segments are read once, front to back: keep only a few MB of them resident.
                sinceRelease += blocks.count
                if sinceRelease >= 256 { seg.releasePages(); sinceRelease = 0 }
            }
            writer.stats.lines += try seg.stats().lines
            seg.releasePages()
        }
        _ = try writer.finish()
        written.append(writer.name)
        generation = next
        return (written, sessionCount)
    }
}
