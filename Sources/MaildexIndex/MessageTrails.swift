import MaildexSupport
import MaildexSessionize

/// Message trails: the records about a session's messages, found by their ids among the
/// message-record rows (numbered from `SessionStitcher.trailBase`) and cut to that
/// session's messages.
extension IndexReader {
    /// The message trail of a session: every record about its messages (the records
    /// the `TermKind.trail` terms of its message ids find, on the session's own server),
    /// as one `Session` value whose lines are those records in log order (by the date
    /// of their files, then the files' order, then line), or nil if it has none.
    public func trail(of s: Session, threads: Int = 1, resolvingOffsets: Bool = true, caching: Bool = true) throws -> Session? {
        try trail(of: s, rows: nil, threads: threads, resolvingOffsets: resolvingOffsets, caching: caching)
    }

    /// The same, keeping the message-record rows it decodes in `rows` for the next
    /// sessions (an export asks for the trails of every session, and neighbours share
    /// their rows: one row holds a parse chunk's records).
    public func trail(of s: Session, rows: TrailRows?, threads: Int = 1, resolvingOffsets: Bool = true,
                      caching: Bool = true) throws -> Session? {
        guard !s.facts.messages.isEmpty else { return nil }
        let server = server(of: s)
        var numbers = [[UInt64]]()
        for id in s.facts.messages { numbers.append(try lookup(Terms.term(.trail, .lowered, id))) }
        let found = PostingList.union(numbers)
        guard !found.isEmpty else { return nil }
        let missing = found.filter { rows?.row($0) == nil }
        let decoded = try sessions(located: missing.map { n in
            guard let row = try entry(n) else { throw MaildexError(.notFound, "message trail \(n) is not in the index") }
            return row
        }, threads: threads, resolvingOffsets: resolvingOffsets, caching: caching).map { TrailRows.Row($0, server: self.server(of: $0)) }
        var byNumber = [UInt64: TrailRows.Row]()
        for r in decoded { byNumber[r.records.number] = r; rows?.keep(r) }
        // Each holds a chunk's records about messages: keep those about this session's.
        let wanted = Set(s.facts.messages.compactMap(SessionRules.messageKey))
        let pieces = found.compactMap { n -> Session? in
            guard let r = byNumber[n] ?? rows?.row(n), r.server == server else { return nil }
            var lines = [Int]()
            for k in wanted { lines += r.lines[k] ?? [] }
            guard !lines.isEmpty else { return nil }
            lines.sort()
            var kept = r.records
            kept.lines = lines.map { r.records.lines[$0] }
            return kept
        }
        return Self.joined(pieces, sources: sources)
    }

    /// Trails' lines as one session value, in log order.
    static func joined(_ pieces: [Session], sources: [UInt32: SourceRecord]) -> Session? {
        guard let first = pieces.first else { return nil }
        var all = [(piece: Int, line: Int)]()
        for (p, s) in pieces.enumerated() { for i in s.lines.indices { all.append((p, i)) } }
        func key(_ x: (piece: Int, line: Int)) -> (Int32, UInt32, UInt64) {
            let l = pieces[x.piece].lines[x.line]
            return (sources[l.source]?.date.daysSinceEpoch ?? 0, l.source, l.lineNumber)
        }
        // Stable: the pieces of a line cut at a window's limit keep their order.
        all = all.enumerated().sorted { a, b in
            let ka = key(a.element), kb = key(b.element)
            return ka != kb ? ka < kb : a.offset < b.offset
        }.map(\.element)
        var text = [UInt8]()
        var lines = [SessionLine]()
        for x in all {
            let piece = pieces[x.piece]
            var l = piece.lines[x.line]
            let bytes = piece.bytes(ofLine: x.line)
            l.textOffset = UInt32(text.count)
            text += bytes
            lines.append(l)
        }
        return Session(number: first.number, date: first.date, channel: first.channel, start: first.start, end: nil,
                       complete: false, facts: first.facts, text: text, lines: lines)
    }
}

/// Message-record rows (`IndexReader.trail(of:rows:)`) decoded for one session and kept
/// for the next: the most recent `capacity` rows, each with its lines grouped by the
/// message they are about. One caller at a time.
public final class TrailRows {
    struct Row {
        var records: Session
        var server: String?
        /// Lines (indices into `records.lines`) per message key (`SessionRules.messageKey`).
        var lines: [UInt64: [Int]]

        init(_ records: Session, server: String?) {
            self.records = records
            self.server = server
            var lines = [UInt64: [Int]]()
            for (i, key) in SessionRules.messageKeys(of: records).enumerated() { if let key { lines[key, default: []].append(i) } }
            self.lines = lines
        }
    }

    public let capacity: Int
    private var rows = [UInt64: Row]()
    private var order = [UInt64]()

    public init(capacity: Int = 64) { self.capacity = max(1, capacity) }

    func row(_ n: UInt64) -> Row? { rows[n] }

    func keep(_ r: Row) {
        let n = r.records.number
        if rows.updateValue(r, forKey: n) == nil { order.append(n) }
        if order.count > capacity { rows[order.removeFirst()] = nil }
    }
}
