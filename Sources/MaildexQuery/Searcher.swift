import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize
import MaildexIndex

/// The one way a front (the command line, a server) asks an index.
///
/// Any number of threads may query one `Searcher` at once. Each query answers from one
/// state of the index (`IndexReader`): the one the `MANIFEST` names when the query
/// starts. A run that commits (a nightly `index`, its merge, a `compact`) is seen by
/// the next query; segments the new state no longer lists stay mapped until the last
/// query that uses them lets go of its state. Each query borrows its worker threads
/// from one `ThreadBudget`, so concurrent queries share the cores.
public final class Searcher: @unchecked Sendable {
    public let directory: String
    public let budget: ThreadBudget
    /// The state the last query used (under `lock`).
    private var current: IndexReader
    private let lock = NSLockLite()
    /// Held while a new state is opened, so that one thread opens it and the others
    /// wait for it rather than open it too.
    private let reloadLock = NSLockLite()

    /// Opens the index in `directory`; `threads` workers in all, at most `threadsPerQuery`
    /// for one query (all of them by default).
    public init(directory: String, threads: Int = Parallel.cores, threadsPerQuery: Int? = nil) throws {
        self.directory = directory
        budget = ThreadBudget(total: threads, perQuery: threadsPerQuery)
        current = try IndexReader(directory: directory)
    }

    /// The index as it is now: the state of the last query, or a new one if the
    /// manifest was replaced since (one `stat` per call).
    public func index() throws -> IndexReader {
        let manifest = directory + "/" + Manifest.fileName
        let seen = lock.with { current }
        if let v = FileVersion.of(manifest), v == seen.manifestVersion { return seen }
        return try reloadLock.with {
            let latest = lock.with { current }
            if let v = FileVersion.of(manifest), v == latest.manifestVersion { return latest }
            let next = try IndexReader(directory: directory, reusing: latest)
            lock.with { current = next }
            return next
        }
    }

    // MARK: Matching

    /// Sessions matching `query`, in `order`, at most `limit` of them, after `cursor`.
    public func search(_ query: Query, order: Order = .oldest, limit: Int? = nil, after cursor: Cursor? = nil) throws -> SearchResult {
        if let limit, limit < 1 { throw MaildexError(.syntax, "a limit is at least 1 (leave it out for every session)") }
        if let cursor, cursor.order != order {
            throw MaildexError(.syntax, "this cursor pages an answer in \(cursor.order.rawValue)-first order, not \(order.rawValue)-first")
        }
        let index = try index()
        let all = try budget.withThreads { try QueryEngine(index: index, threads: $0).matches(query) }
        let page: ArraySlice<UInt64>
        switch (order, cursor) {
        case (_, nil): page = all[...]
        case (.oldest, let c?): page = all[Self.firstIndex(in: all) { $0 > c.after }...]
        case (.newest, let c?): page = all[..<Self.firstIndex(in: all) { $0 >= c.after }]
        }
        var numbers = order == .oldest ? Array(page) : Array(page.reversed())
        var next: Cursor? = nil
        if let limit, numbers.count > limit {
            numbers.removeSubrange(limit...)
            next = Cursor(order: order, after: numbers[limit - 1])
        }
        return SearchResult(index: index, numbers: numbers, total: all.count, next: next)
    }

    /// How many sessions match `query`.
    public func count(_ query: Query) throws -> Int {
        let index = try index()
        return try budget.withThreads { try QueryEngine(index: index, threads: $0).matches(query).count }
    }

    /// The first position in sorted `list` whose value satisfies `isPast` (a binary search).
    static func firstIndex(in list: [UInt64], where isPast: (UInt64) -> Bool) -> Int {
        var lo = 0, hi = list.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if isPast(list[mid]) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    // MARK: Sessions

    /// The sessions of `result`, in its order, a batch at a time, whole (every line's
    /// source, line number and byte offset): `body` gets the position of each batch's
    /// first session in the result and the batch. Memory stays bounded however many
    /// and however large the sessions are (`IndexReader.forEachBatch`).
    public func forEachBatch(of result: SearchResult, resolvingOffsets: Bool = true, caching: Bool = true,
                             _ body: (_ first: Int, _ sessions: [Session]) throws -> Void) throws {
        try budget.withThreads { threads in
            try result.index.forEachBatch(result.numbers, threads: threads, resolvingOffsets: resolvingOffsets, caching: caching, body)
        }
    }

    /// The session numbered `number`, from the index as it is now, or nil if it has none.
    /// (Message records, numbered from `SessionStitcher.trailBase`, are no session.)
    public func session(_ number: UInt64) throws -> (session: Session, index: IndexReader)? {
        let index = try index()
        guard number < SessionStitcher.trailBase, try index.entry(number) != nil else { return nil }
        return (try index.session(number), index)
    }

    /// The sessions of `result` as `rendering` shows them, in order, each as the bytes
    /// to print: transcripts (a blank line before each but the first of the whole answer:
    /// `firstPosition` says where this result starts in it), summaries, NDJSON, evidence.
    /// Formatted a few tens of MB at a time, on the threads the budget gives.
    /// `caching` false keeps the blocks read out of the `BlockCache` (an export).
    /// With `messages`, each session's message trail follows its lines (`--messages`).
    public func render(_ result: SearchResult, as rendering: Rendering, firstPosition: Int = 0, caching: Bool = true,
                       messages: Bool = false, to write: ([UInt8]) throws -> Void) throws {
        let index = result.index
        try budget.withThreads { threads in
            // Byte offsets are looked up only where they are printed.
            try index.forEachBatch(result.numbers, threads: threads, resolvingOffsets: rendering == .evidence, caching: caching) { at, batch in
                var from = 0
                while from < batch.count {
                    var to = from, size = 0
                    while to < batch.count, to == from || size + batch[to].text.count <= 32 << 20 { size += batch[to].text.count; to += 1 }
                    let first = firstPosition + at + from, part = batch[from..<to]
                    // A thread per run of neighbours, which share the message-record rows
                    // their trails are cut from (decoded once per run, in its `TrailRows`).
                    let runs = messages ? min(threads, part.count) : part.count
                    let texts = Parallel.map(runs, threads: threads) { r -> [Result<[UInt8], Error>] in
                        let rows = messages ? TrailRows() : nil
                        return (r * part.count / runs..<(r + 1) * part.count / runs).map { k in
                            Result {
                                try index.view(of: part[part.startIndex + k], messages: messages, trailRows: rows,
                                               resolvingOffsets: rendering == .evidence, caching: caching)
                                    .rendered(rendering, position: first + k, sources: index.sources)
                            }
                        }
                    }
                    for run in texts { for t in run { try write(try t.get()) } }
                    from = to
                }
            }
        }
    }

    // MARK: Statistics

    /// Statistics of the whole index (`query` nil) or of the sessions `query` matches.
    public func statistics(_ query: Query?, top: Int = 10) throws -> IndexStatistics {
        let index = try index()
        guard let query else { return try IndexStatistics.of(index, top: top) }
        return try budget.withThreads { threads in
            let numbers = try QueryEngine(index: index, threads: threads).matches(query)
            return try IndexStatistics.of(index, sessions: numbers, top: top, threads: threads)
        }
    }
}

/// One page of an answer, with the state of the index it came from (its sessions are
/// fetched from that state, whatever runs have committed since).
public struct SearchResult: Sendable {
    public let index: IndexReader
    /// The page's session numbers, in the answer's order.
    public let numbers: [UInt64]
    /// Sessions that match in all, on every page.
    public let total: Int
    /// Where the next page starts; nil on the last page.
    public let next: Cursor?
}

/// How a session is printed.
public enum Rendering: String, Sendable, CaseIterable {
    /// A header line, then its lines exactly as in the log.
    case transcript
    /// As `transcript`, each line after `file:line-number:`.
    case provenance
    /// As `transcript`, each line after `file:line-number:byte-offset:`, then the SHA-256
    /// of each source file as recorded when it was indexed.
    case evidence
    /// One line per session.
    case summary
    /// One JSON object per line (NDJSON).
    case json
}

extension SessionView {
    /// This session as `rendering` prints it, at `position` in the answer (a transcript
    /// after the first starts with a blank line).
    public func rendered(_ rendering: Rendering, position: Int, sources: [UInt32: SourceRecord]) -> [UInt8] {
        switch rendering {
        case .json: var b = jsonBytes(); b.append(10); return b
        case .summary: return Array(summaryLine().utf8) + [10]
        case .transcript, .provenance, .evidence:
            var bytes = [UInt8]()
            if position > 0 { bytes.append(10) }
            appendTranscript(to: &bytes, provenance: rendering != .transcript, offsets: rendering == .evidence)
            bytes.append(10)
            if rendering == .evidence {
                var seen = Set<UInt32>()
                for l in session.lines + (withMessages ? trail?.lines ?? [] : []) where seen.insert(l.source).inserted {
                    if let src = sources[l.source] { bytes += Array(Self.evidenceLine(src).utf8) }
                }
            }
            return bytes
        }
    }

    /// What `--evidence` says of a source file: its digest, sizes, layout and path.
    public static func evidenceLine(_ src: SourceRecord) -> String {
        let digest = src.hasDigest ? SHA256Hasher.hex(src.sha256)
            : src.partial ? "not recorded (the file could not be read to its end)"
            : "not recorded (indexed by a maildex before 2026-11-30; rebuild the index)"
        let layout = src.frames > 0 ? " (zstd, \(src.frames) frames; offsets are in the decompressed text)"
            : src.name.hasSuffix(".zst") ? " (zstd; offsets are in the decompressed text)" : ""
        let partial = src.partial ? "; INDEXED IN PART: reading stopped at an error after these bytes" : ""
        let part = src.continues && !src.partial
            ? " from byte \(src.firstOffset) (the file had grown since its first \(src.firstOffset) bytes were indexed; the digest covers all \(src.size))" : ""
        return "# source \(src.name): sha256 \(digest), \(src.size) bytes on disk, \(src.plainBytes) bytes of log text\(part)\(layout)\(partial), path \(src.path)\n"
    }
}
