import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// An open index: the manifest's segments, oldest first, read as one.
///
/// A session's number is the same in every segment; when a later segment holds a
/// newer copy of a session (continued in a later run), the older copy is ignored.
///
/// One state of the index: what the manifest listed when it was opened, whatever runs
/// commit after. Any number of threads may read it at once.
public final class IndexReader: @unchecked Sendable {
    public let directory: String
    public let manifest: Manifest
    public let segments: [SegmentReader]
    /// Per segment: numbers that later segments replace.
    package let shadowed: [Set<UInt64>]
    public let sources: [UInt32: SourceRecord]
    /// The manifest file this state was read from (nil if it could not be stat'ed).
    public let manifestVersion: FileVersion?

    /// Opens the index in `directory`. A segment that a concurrent `compact`
    /// removed after the manifest was read is handled by reading the manifest again.
    /// Segments that `previous` has open and that are still the same files are shared
    /// with it (their caches and checked pages too), not opened again.
    public init(directory: String, reusing previous: IndexReader? = nil) throws {
        self.directory = directory
        var open = [String: SegmentReader]()
        for s in previous?.segments ?? [] { open[s.name] = s }
        func segment(_ name: String) throws -> SegmentReader {
            let path = directory + "/" + name
            if let s = open[name], let v = s.fileVersion, v == FileVersion.of(path) { return s }
            return try SegmentReader.open(path)
        }
        var attempt = 0
        var version: FileVersion? = nil
        while true {
            version = FileVersion.of(directory + "/" + Manifest.fileName)
            guard let m = try Manifest.load(directory: directory) else {
                throw MaildexError(.notFound, "\(directory): no maildex index here (no MANIFEST); create one with `maildex index --index \(directory) LOGS...`", path: directory)
            }
            do {
                segments = try m.segments.map(segment)
                manifest = m
                break
            } catch let e as IOError where attempt < 3 {
                attempt += 1
                _ = e
                continue
            }
        }
        var shadows = [Set<UInt64>](repeating: [], count: segments.count)
        var later = Set<UInt64>()
        for i in segments.indices.reversed() {
            shadows[i] = later
            later.formUnion(try segments[i].replaced())
        }
        shadowed = shadows
        manifestVersion = version
        var sources = [UInt32: SourceRecord]()
        for s in segments { for src in try s.sources() { sources[src.id] = src } }
        self.sources = sources
        var count = 0
        for (i, s) in segments.enumerated() {
            var hidden = 0
            for n in shadowed[i] where try s.findEntry(n) != nil { hidden += 1 }
            count += s.sessionCount - hidden
        }
        sessionCount = count
    }

    /// Sessions in the index, each counted once.
    public let sessionCount: Int

    func visible(_ list: [UInt64], _ segment: Int) -> [UInt64] {
        shadowed[segment].isEmpty ? list : list.filter { !shadowed[segment].contains($0) }
    }

    /// Sessions with term `key`, sorted.
    public func lookup(_ key: [UInt8]) throws -> [UInt64] {
        var lists = [[UInt64]]()
        for (i, s) in segments.enumerated() {
            let l = try s.lookup(key)
            if !l.isEmpty { lists.append(visible(l, i)) }
        }
        return PostingList.union(lists)
    }

    /// Sessions with any term in `[lower, upper]`, sorted.
    public func lookupRange(_ lower: [UInt8], _ upper: [UInt8]) throws -> [UInt64] {
        var lists = [[UInt64]]()
        for (i, s) in segments.enumerated() {
            try s.lookupRange(lower, upper) { _, l in lists.append(visible(l, i)) }
        }
        return PostingList.union(lists)
    }

    /// The table row of a session (from the newest segment that has it).
    public func entry(_ number: UInt64) throws -> (segment: Int, entry: SessionEntry)? {
        for i in segments.indices.reversed() {
            if let e = try segments[i].findEntry(number) { return (i, e) }
        }
        return nil
    }

    public func session(_ number: UInt64) throws -> Session {
        guard let (i, e) = try entry(number) else { throw MaildexError(.notFound, "session \(number) is not in the index") }
        var s = try segments[i].session(e)
        try resolveOffsets(&s)
        return s
    }

    /// The sessions of one store block of segment `segment` that no later segment replaces
    /// (with `trails`, its message trails too: a block holds both).
    public func sessions(inBlock block: Int, ofSegment segment: Int, trails: Bool = false) throws -> [Session] {
        var out = try segments[segment].sessions(inBlock: block).filter {
            !shadowed[segment].contains($0.number) && (trails || !$0.channel.isTrail)
        }
        try resolveOffsets(&out, threads: Parallel.cores)
        return out
    }

    /// Which segment holds each source's line table (the segment written when the
    /// file was read; a session may sit in another). Read on first use (under `lock`).
    private var lineTableSegmentCache: [UInt32: Int]? = nil
    private let lock = NSLockLite()

    private func lineTableSegment() throws -> [UInt32: Int] {
        if let m = lock.with({ lineTableSegmentCache }) { return m }
        var m = [UInt32: Int]()
        for (i, s) in segments.enumerated() { for source in try s.lineTableSources().keys { m[source] = i } }
        lock.with { lineTableSegmentCache = m }
        return m
    }

    /// Fills in the byte offset of each line of a session read from the store, from
    /// the line tables of its sources.
    func resolveOffsets(_ s: inout Session) throws {
        var one = [s]
        try resolveOffsets(&one, threads: 1)
        s = one[0]
    }

    /// Fills in the byte offsets of the lines of `sessions`. An interleaved log puts a
    /// session's lines in many line-table blocks, and a batch's sessions in thousands:
    /// each block is located (its pages checked) here, taken from the segment's cache of
    /// recent blocks or else decoded once, on `threads` threads, and cached.
    func resolveOffsets(_ sessions: inout [Session], threads: Int) throws {
        let tables = try lineTableSegment()
        struct Key: Hashable { var segment: Int; var source: UInt32; var block: Int }
        var groupOf = [Key: Int]()
        var groups = [(segment: Int, block: SegmentReader.LineBlock)]()
        var wanted = [(group: Int, index: Int)]()
        wanted.reserveCapacity(sessions.reduce(0) { $0 + $1.lines.count })
        // The line-table block of the line before: a block holds 4096 lines, so a session's
        // next line is nearly always in it, found without a lookup.
        var last: (source: UInt32, first: UInt64, end: UInt64, group: Int)? = nil
        for s in sessions {
            for l in s.lines {
                if let c = last, c.source == l.source, l.lineNumber >= c.first, l.lineNumber < c.end {
                    wanted.append((c.group, Int(l.lineNumber - c.first)))
                    continue
                }
                guard let seg = tables[l.source], let (block, k) = try segments[seg].lineBlock(source: l.source, line: l.lineNumber) else {
                    throw IndexError.corrupt(directory, "no line table for source \(l.source) (session \(s.number))")
                }
                let key = Key(segment: seg, source: l.source, block: block.block)
                let g: Int
                if let found = groupOf[key] { g = found } else {
                    g = groups.count; groupOf[key] = g; groups.append((seg, block))
                }
                wanted.append((g, k))
                let first = l.lineNumber - UInt64(k)
                last = (l.source, first, first + UInt64(block.lines), g)
            }
        }
        var offsets = groups.map { segments[$0.segment].cachedOffsets($0.block) ?? [] }
        let missing = groups.indices.filter { offsets[$0].isEmpty }
        let decoded = Parallel.map(missing.count, threads: min(threads, max(1, missing.count / 8))) { m in
            let g = groups[missing[m]]
            return Result { try segments[g.segment].offsets(g.block) }
        }
        for (m, d) in decoded.enumerated() {
            let g = missing[m]
            offsets[g] = try d.get()
            segments[groups[g].segment].cache(groups[g].block, offsets: offsets[g])
        }
        var w = 0
        for i in sessions.indices {
            for j in sessions[i].lines.indices {
                sessions[i].lines[j].byteOffset = offsets[wanted[w].group][wanted[w].index]
                w += 1
            }
        }
    }

    /// Several sessions at once, in the order asked: each store block is decompressed
    /// once for the whole batch, however many of the sessions it holds, and the blocks
    /// are decompressed on `threads` threads at once.
    /// Without `resolvingOffsets`, byte offsets stay 0 (for a caller that needs only
    /// the sessions' facts or text).
    public func sessions(_ numbers: some Collection<UInt64>, threads: Int = Parallel.cores,
                         resolvingOffsets: Bool = true) throws -> [Session] {
        try sessions(located: numbers.map { n in
            guard let found = try entry(n) else { throw MaildexError(.notFound, "session \(n) is not in the index") }
            return found
        }, threads: threads, resolvingOffsets: resolvingOffsets)
    }

    func sessions(located rows: [(segment: Int, entry: SessionEntry)], threads: Int,
                          resolvingOffsets: Bool, caching: Bool = true) throws -> [Session] {
        var bySegment = [[(position: Int, entry: SessionEntry)]](repeating: [], count: segments.count)
        for (i, row) in rows.enumerated() { bySegment[row.segment].append((i, row.entry)) }
        var out = [Session?](repeating: nil, count: rows.count)
        for (seg, rows) in bySegment.enumerated() where !rows.isEmpty {
            let found = try segments[seg].sessions(rows.map(\.entry), threads: threads, caching: caching)
            for (k, s) in found.enumerated() { out[rows[k].position] = s }
        }
        var sessions = out.map { $0! }
        if resolvingOffsets { try resolveOffsets(&sessions, threads: threads) }
        return sessions
    }

    /// Sessions `numbers`, in order, a batch at a time: `body` gets the position in
    /// `numbers` of each batch's first session and the batch. A batch holds at most
    /// `maxSessions` sessions and, past its first session, at most `maxBytes` of
    /// decompressed store blocks (a session is never larger than its block), so the
    /// memory a long answer takes stays bounded however large its sessions are.
    /// `caching` false keeps its blocks out of the `BlockCache`.
    public func forEachBatch(_ numbers: some Collection<UInt64>, maxSessions: Int = 512, maxBytes: Int = 64 << 20,
                             threads: Int = Parallel.cores, resolvingOffsets: Bool = true, caching: Bool = true,
                             _ body: (_ first: Int, _ sessions: [Session]) throws -> Void) throws {
        var rows = [(segment: Int, entry: SessionEntry)]()
        var blocks = Set<UInt64>(), bytes = 0, first = 0
        func flush() throws {
            guard !rows.isEmpty else { return }
            try body(first, try sessions(located: rows, threads: threads, resolvingOffsets: resolvingOffsets, caching: caching))
            first += rows.count
            rows.removeAll(keepingCapacity: true); blocks.removeAll(keepingCapacity: true); bytes = 0
        }
        for n in numbers {
            guard let (seg, e) = try entry(n) else { throw MaildexError(.notFound, "session \(n) is not in the index") }
            if blocks.insert(UInt64(seg) << 32 | UInt64(e.block)).inserted {
                let plain = try segments[seg].blockLocation(Int(e.block)).plain
                if !rows.isEmpty, bytes + plain > maxBytes { try flush(); blocks.insert(UInt64(seg) << 32 | UInt64(e.block)) }
                bytes += plain
            }
            rows.append((seg, e))
            if rows.count >= maxSessions { try flush() }
        }
        try flush()
    }

    public func sourceName(_ id: UInt32) -> String { sources[id]?.name ?? "source-\(id)" }

    /// The server whose logs hold a session (its first line's source's), if named.
    public func server(of s: Session) -> String? { s.lines.first.flatMap { sources[$0.source]?.server } }

    /// Reads and checks every byte of every segment, and of every carry file (the
    /// sessions the next run continues: whole-file CRC-32C).
    public func verifyAll() throws {
        for s in segments { try s.verifyAll() }
        _ = try verifyCarryFiles()
    }

    /// Reads and checks every carry file: each one's name and number of sessions.
    public func verifyCarryFiles() throws -> [(name: String, sessions: Int)] {
        try manifest.carryFiles.map { ($0, try CarryFile.load(directory + "/" + $0).count) }
    }
}

extension IndexReader {
    /// The numbers of the sessions the manifest's carry files hold: those still open when
    /// each server's last run ended, which its next run may continue under the same
    /// numbers.
    public func carriedNumbers() throws -> [UInt64] {
        var out = [UInt64]()
        for name in manifest.carryFiles {
            for c in try CarryFile.load(directory + "/" + name) { out.append(c.session.number) }
        }
        return out.sorted()
    }

    /// The numbers of the rows numbered from `lower` up to (not including) `upper`, in
    /// any segment, sorted, each once (a row a later segment replaces is counted once).
    /// Sessions are numbered below `SessionStitcher.trailBase`, message-record rows from it.
    public func numbers(from lower: UInt64, below upper: UInt64) throws -> [UInt64] {
        var found = Set<UInt64>()
        for s in segments {
            var i = try s.firstRow(atLeast: lower)
            while i < s.entryCount {
                let n = try s.number(at: i)
                if n >= upper { break }
                found.insert(n)
                i += 1
            }
        }
        return found.sorted()
    }
}
