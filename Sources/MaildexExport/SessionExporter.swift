#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexSessionize
import MaildexIndex
import MaildexQuery

/// Writes sessions of an index as rows of `maildex.sessions` (`deploy/clickhouse/schema.sql`):
/// ClickHouse's Native format in blocks of `blockRows` rows, or JSONEachRow. Streams:
/// a store block of sessions (or a batch of found ones) at a time, so memory stays that of
/// one output block however large the index.
public struct SessionExporter {
    public enum Format: String, Sendable, CaseIterable { case native, jsonl }

    public let index: IndexReader
    public let format: Format
    /// Rows per Native block (ClickHouse inserts a block at a time; 10k to 100k rows each
    /// is what it handles best). A block is also written once it holds `blockBytes`.
    public var blockRows = 16_384
    public var blockBytes = 256 << 20
    public var threads = Parallel.cores

    public init(index: IndexReader, format: Format) { self.index = index; self.format = format }

    /// What one export wrote.
    public struct Counts: Sendable, Equatable {
        public var sessions = 0
        public var withdrawals = 0
        public var bytes = 0
        public var blocks = 0
    }

    /// Every session of the index.
    public func exportAll(_ write: @escaping ([UInt8]) throws -> Void) throws -> Counts {
        var out = Output(exporter: self, write: write)
        for seg in index.segments.indices {
            for block in 0..<index.segments[seg].blockCount {
                for s in try index.sessions(inBlock: block, ofSegment: seg) { try out.add(s) }
            }
        }
        return try out.finish()
    }

    /// Sessions `numbers` (any order; each is read in the order given), and before them
    /// the withdrawals `withdrawn`: rows that take back an earlier export's copy of a
    /// session under a key that is no longer its own (its peer became known later).
    public func export(_ numbers: [UInt64], withdrawing withdrawn: [UInt64: ExportState.Carried] = [:],
                       _ write: @escaping ([UInt8]) throws -> Void) throws -> Counts {
        var out = Output(exporter: self, write: write)
        try index.forEachBatch(numbers, threads: threads) { _, batch in
            for s in batch {
                if let old = withdrawn[s.number], old.peer != s.facts.peer { try out.add(s, withdrawingPeer: old.peer) }
                try out.add(s)
            }
        }
        return try out.finish()
    }

    /// Rows in a buffer, written a block at a time.
    struct Output {
        let exporter: SessionExporter
        let write: ([UInt8]) throws -> Void
        var block = NativeBlock(ExportColumns.all)
        var json = [UInt8]()
        var counts = Counts()
        let trails = TrailRows()

        init(exporter: SessionExporter, write: @escaping ([UInt8]) throws -> Void) {
            self.exporter = exporter
            self.write = write
        }

        mutating func add(_ s: Session, withdrawingPeer old: IPAddress?? = nil) throws {
            let index = exporter.index
            var row = ExportRow(s, trail: try index.trail(of: s, rows: trails), index: index)
            if let old {
                row.peer = old
                row.isDeleted = true
                counts.withdrawals += 1
            } else {
                counts.sessions += 1
            }
            switch exporter.format {
            case .native:
                row.append(to: &block)
                if block.rows >= exporter.blockRows || block.byteCount >= exporter.blockBytes { try flush() }
            case .jsonl:
                row.appendJSON(to: &json)
                if json.count >= 4 << 20 { try flush() }
            }
        }

        mutating func flush() throws {
            switch exporter.format {
            case .native:
                guard block.rows > 0 else { return }
                let bytes = block.encoded()
                try write(bytes)
                counts.bytes += bytes.count
                counts.blocks += 1
                block.reset()
            case .jsonl:
                guard !json.isEmpty else { return }
                try write(json)
                counts.bytes += json.count
                json.removeAll(keepingCapacity: true)
            }
        }

        mutating func finish() throws -> Counts {
            try flush()
            return counts
        }
    }
}

/// What a `maildex export --new-since STATE` run exported up to, so that the next one
/// exports only what was indexed since (`ExportState.load`, `store`). A text file:
///
///     maildex-export-state 1
///     index /var/lib/maildex/mx01
///     next-session 2240118
///     next-trail 549755868416
///     carried 2240007 ::ffff:203.0.113.9 14
///
/// `next-session`, `next-trail`: the index's counters then (sessions and message-record
/// rows numbered from them on are new); `carried`: a session still open then (a later run
/// may continue it under its number) with the peer it was exported with (`-` for none),
/// whose row a changed peer must withdraw, and its count of lines then: it is exported
/// again once it has more.
public struct ExportState: Equatable, Sendable {
    public static let header = "maildex-export-state 1"

    public var index = ""
    public var nextSession: UInt64 = 0
    public var nextTrail: UInt64 = SessionStitcher.trailBase
    public var carried: [UInt64: Carried] = [:]

    /// A session open when the state was written, as it was exported then.
    public struct Carried: Equatable, Sendable {
        public var peer: IPAddress?
        public var lines: Int
        public init(peer: IPAddress?, lines: Int) { self.peer = peer; self.lines = lines }
    }

    public init() {}

    /// The state in `path`, or nil if there is no such file.
    public static func load(_ path: String) throws -> ExportState? {
        guard let bytes = try? SmallFile.read(path) else {
            if access(path, F_OK) != 0 { return nil }
            throw MaildexError(.io, "\(path): cannot read the export state", path: path)
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first == Substring(header) else {
            throw MaildexError(.corrupt, "\(path): not a maildex export state (its first line is not `\(header)`)", path: path)
        }
        var s = ExportState()
        var sawSession = false
        for (k, line) in lines.dropFirst().enumerated() {
            let f = line.split(separator: " ", maxSplits: 2).map(String.init)
            func bad() -> MaildexError {
                MaildexError(.corrupt, "\(path): line \(k + 2) is malformed: `\(line.prefix(80))`", path: path)
            }
            switch f.first {
            case "index": s.index = f.count > 1 ? f[1...].joined(separator: " ") : ""
            case "next-session":
                guard f.count == 2, let n = UInt64(f[1]) else { throw bad() }
                s.nextSession = n; sawSession = true
            case "next-trail":
                guard f.count == 2, let n = UInt64(f[1]) else { throw bad() }
                s.nextTrail = n
            case "carried":
                let g = f.count == 3 ? f[2].split(separator: " ").map(String.init) : []
                guard g.count == 2, let n = UInt64(f[1]), let lines = Int(g[1]), lines >= 0 else { throw bad() }
                var peer: IPAddress? = nil
                if g[0] != "-" {
                    guard let a = IPAddress(g[0]) else { throw bad() }
                    peer = a
                }
                s.carried[n] = Carried(peer: peer, lines: lines)
            default: throw bad()
            }
        }
        guard sawSession else { throw MaildexError(.corrupt, "\(path): no next-session line", path: path) }
        return s
    }

    public func encoded() -> String {
        var out = Self.header + "\nindex \(index)\nnext-session \(nextSession)\nnext-trail \(nextTrail)\n"
        for n in carried.keys.sorted() {
            let c = carried[n]!
            let peer = c.peer.map { $0.isV4 ? "::ffff:" + $0.description : $0.description } ?? "-"
            out += "carried \(n) \(peer) \(c.lines)\n"
        }
        return out
    }

    /// Writes the state to `path` atomically (a temporary file, fsynced, renamed).
    public func store(_ path: String) throws {
        let f = try AtomicFile(path: path)
        try f.write(Array(encoded().utf8))
        try f.commit()
    }
}

extension SessionExporter {
    /// What `--new-since` exports after `state` (nil: everything), and the state to store
    /// once the export is written: the sessions numbered since; those `state` saw open
    /// (continued since, perhaps); and those whose messages gained records since (a
    /// delivery logged the next day: their rows' trails grew). Rows already in ClickHouse
    /// come again with a higher `revision`, which the table keeps.
    public func sinceState(_ state: ExportState?, indexPath: String) throws -> (numbers: [UInt64]?, next: ExportState) {
        let m = index.manifest
        var next = ExportState()
        next.index = indexPath
        next.nextSession = m.nextSession
        next.nextTrail = m.nextTrail
        let carried = try index.carriedNumbers()
        if !carried.isEmpty {
            for s in try index.sessions(carried, threads: threads, resolvingOffsets: false) {
                next.carried[s.number] = ExportState.Carried(peer: s.facts.peer, lines: s.lines.count)
            }
        }
        guard let state else { return (nil, next) }
        guard state.nextSession <= m.nextSession, state.nextTrail <= m.nextTrail else {
            throw MaildexError(.corrupt, "the export state is ahead of the index (it saw session \(state.nextSession), the index has numbered \(m.nextSession)): was the index rebuilt? Remove the state file to export everything", path: indexPath)
        }
        var wanted = Set(try index.numbers(from: state.nextSession, below: SessionStitcher.trailBase))
        // Those open then that have grown since (a later run continued them).
        let open = state.carried.keys.filter { (try? index.entry($0)) != nil }.sorted()
        if !open.isEmpty {
            for s in try index.sessions(open, threads: threads, resolvingOffsets: false)
            where s.lines.count != state.carried[s.number]!.lines { wanted.insert(s.number) }
        }
        // Message-record rows since: the sessions of their message ids.
        let rows = try index.numbers(from: max(state.nextTrail, SessionStitcher.trailBase), below: .max)
        var ids = Set<[UInt8]>()
        try index.forEachBatch(rows, threads: threads, resolvingOffsets: false) { _, batch in
            for r in batch { for id in r.facts.messages { ids.insert(id.map(Bytes.lower)) } }
        }
        for id in ids {
            for n in try index.lookup(Terms.term(.message, .lowered, id)) where n < state.nextSession { wanted.insert(n) }
        }
        return (wanted.sorted(), next)
    }
}

/// A small file's bytes, read with read(2) (the state file is a few lines, replaced by
/// rename).
enum SmallFile {
    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MaildexError.io(path, errno: errno, "cannot open") }
        defer { close(fd) }
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw MaildexError.io(path, errno: errno, "cannot read") }
            if n == 0 { return out }
            out += buffer[..<n]
            if out.count > 64 << 20 { throw MaildexError(.corrupt, "\(path): too large for an export state", path: path) }
        }
    }
}
