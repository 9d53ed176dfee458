import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize
import MaildexIndex

/// Answers a `Query` from an index: looks up each predicate's posting list (a
/// range scan of terms for CIDR blocks and date spans), intersects them smallest
/// first, and applies time bounds from the session table.
public struct QueryEngine: Sendable {
    public let index: IndexReader
    /// Threads one query may use (for the sessions a key longer than the index keeps
    /// must be checked against).
    public let threads: Int

    public init(index: IndexReader, threads: Int = Parallel.cores) { self.index = index; self.threads = max(1, threads) }

    /// Session numbers matching every predicate, oldest first.
    public func matches(_ q: Query) throws -> [UInt64] {
        var lists = [[UInt64]]()
        let singleDate = q.fromDate != nil && q.fromDate == q.toDate ? q.fromDate : nil
        for p in q.predicates {
            lists.append(try lookUp(Self.lookups(p, date: singleDate)))
            if lists.last!.isEmpty { return [] }
        }
        // Groups: an OR or a list is one more list to intersect; a NOT is subtracted.
        var excluded = [[UInt64]]()
        for g in q.groups {
            if case .not(let inner) = g { excluded.append(try evaluate(inner, singleDate)); continue }
            lists.append(try evaluate(g, singleDate))
            if lists.last!.isEmpty { return [] }
        }
        lists.sort { $0.count < $1.count }
        let hasDates = q.fromDate != nil || q.toDate != nil
        if !hasDates && lists.isEmpty && !excluded.isEmpty { lists.append(try everySession()) }
        if hasDates && (lists.isEmpty || lists[0].count > 200_000) {
            let lower = q.fromDate ?? CivilDate(daysSinceEpoch: Int32.min + 1)
            let upper = q.toDate ?? CivilDate(daysSinceEpoch: Int32.max - 1)
            if lower > upper { return [] }
            lists.append(try lookUp(Self.dateLookups(lower, upper)))
            lists.sort { $0.count < $1.count }
        }
        guard var result = lists.first else { return [] }
        for l in lists.dropFirst() {
            result = PostingList.intersect(result, l)
            if result.isEmpty { return [] }
        }
        for x in excluded { result = PostingList.subtract(result, x) }
        if hasDates { result = try result.filter { try inDateBounds($0, q) } }
        // Keys are indexed cut to `Terms.maxKeyBytes`: sessions a longer key found by its
        // first bytes are checked against the whole key, on their facts.
        let long = q.predicates.filter { Self.keyLength($0) > Terms.maxKeyBytes }
        if !long.isEmpty, !result.isEmpty {
            var kept = [UInt64]()
            try index.forEachBatch(result, threads: threads, resolvingOffsets: false) { _, batch in
                for session in batch where long.allSatisfy({ Self.matchesWhole($0, session.facts) }) { kept.append(session.number) }
            }
            result = kept
        }
        if !q.lineKinds.isEmpty {
            result = try result.filter { n in
                guard let (_, e) = try index.entry(n) else { return false }
                return q.lineKinds.allSatisfy { $0 == (e.flags >> 8) & 0xFF }
            }
        }
        return result
    }

    /// The sessions a group's condition holds for, sorted.
    func evaluate(_ e: Query.Expr, _ singleDate: CivilDate?) throws -> [UInt64] {
        switch e {
        case .predicate(let p): return try lookUp(Self.lookups(p, date: singleDate))
        case .any(let items): return PostingList.union(try items.map { try evaluate($0, singleDate) })
        case .not(let inner): return PostingList.subtract(try everySession(), try evaluate(inner, singleDate))
        case .all(let items):
            var positive = [[UInt64]](), negative = [[UInt64]]()
            for item in items {
                if case .not(let inner) = item { negative.append(try evaluate(inner, singleDate)) } else { positive.append(try evaluate(item, singleDate)) }
            }
            positive.sort { $0.count < $1.count }
            var result = positive.isEmpty ? try everySession() : positive[0]
            for l in positive.dropFirst() { result = PostingList.intersect(result, l) }
            for l in negative { result = PostingList.subtract(result, l) }
            return result
        }
    }

    /// Every session of the index (for a NOT with nothing beside it), by its dates.
    func everySession() throws -> [UInt64] {
        try lookUp(Self.dateLookups(CivilDate(daysSinceEpoch: Int32.min + 1), CivilDate(daysSinceEpoch: Int32.max - 1)))
    }

    /// A term to look up, or a range of terms (both ends included).
    enum Lookup: Equatable {
        case key([UInt8])
        case range([UInt8], [UInt8])
    }

    /// What a predicate looks up: for each stored kind of its row of the table of kinds
    /// (`p.kind.info.stored`: `addr:` looks up a sender, a recipient and a rejected
    /// recipient), its key in the row's encoding; it matches the sessions of any.
    /// `date`: the query's only date, if it has one (a line id's terms hold the date).
    static func lookups(_ p: Query.Predicate, date: CivilDate?) -> [Lookup] {
        let row = p.kind.info
        return row.stored.map { kind in
            switch p {
            case .peer(let r):
                return .range(Terms.peer(r.lower, kind: kind), Terms.peer(r.upper, kind: kind))
            case .line(let n):
                if let d = date { return .key(Terms.line(n, d, kind: kind)) }
                return .range(Terms.line(n, kind: kind), Terms.line(n, kind: kind) + [0xFF, 0xFF, 0xFF, 0xFF])
            case .address(let v), .sender(let v), .recipient(let v), .domain(let v), .helo(let v), .message(let v),
                 .auth(let v), .server(let v):
                return .key(Terms.term(kind, row.encoding, v))
            case .flag(let f):
                return .key(Terms.term(kind, row.encoding, f.key))
            }
        }
    }

    /// What the sessions that start from `lower` to `upper` (days) are looked up by.
    static func dateLookups(_ lower: CivilDate, _ upper: CivilDate) -> [Lookup] {
        QueryKind.date.info.stored.map { .range(Terms.date(lower, kind: $0), Terms.date(upper, kind: $0)) }
    }

    /// The sessions any of `lookups` finds.
    func lookUp(_ lookups: [Lookup]) throws -> [UInt64] {
        PostingList.union(try lookups.map { l in
            switch l {
            case .key(let k): return try index.lookup(k)
            case .range(let lower, let upper): return try index.lookupRange(lower, upper)
            }
        })
    }

    /// The length of a predicate's key in the index (0 for ranges and line ids).
    static func keyLength(_ p: Query.Predicate) -> Int {
        switch p {
        case .address(let k), .sender(let k), .recipient(let k), .domain(let k), .helo(let k), .message(let k),
             .auth(let k), .server(let k): return k.count
        case .peer, .line, .flag: return 0
        }
    }

    /// Whether a session's facts hold a predicate's whole key, as its terms would.
    static func matchesWhole(_ p: Query.Predicate, _ f: SessionFacts) -> Bool {
        switch p {
        case .address(let a), .sender(let a), .recipient(let a):
            return p.kind.info.stored.contains { addresses($0, f).contains(a) }
        case .domain(let d): return (f.from + f.to + f.rejected).contains { Terms.domain(of: $0).map(Array.init) == d }
        case .helo(let h): return f.helo.map { $0.map(Bytes.lower) } == h
        case .message(let m): return f.messages.contains { $0.map(Bytes.lower) == m }
        case .auth(let a): return f.auth.map { $0.map(Bytes.lower) } == a
        // Server names are at most 64 bytes: never cut.
        case .peer, .line, .flag, .server: return true
        }
    }

    /// A session's addresses that terms of the stored kind `kind` hold.
    static func addresses(_ kind: TermKind, _ f: SessionFacts) -> [[UInt8]] {
        switch kind {
        case .sender: return f.from
        case .recipient: return f.to
        case .rejected: return f.rejected
        case .address: return f.from + f.to + f.rejected
        case .peer, .domain, .helo, .message, .line, .date, .server, .auth, .flag, .trail: return []
        }
    }

    /// Whether session `n` starts within the query's dates and times.
    func inDateBounds(_ n: UInt64, _ q: Query) throws -> Bool {
        guard let (_, e) = try index.entry(n) else { return false }
        if let f = q.fromDate {
            if e.date < f { return false }
            if e.date == f, let s = q.fromSecond, e.startSecond < s { return false }
        }
        if let t = q.toDate {
            if e.date > t { return false }
            if e.date == t, let s = q.toSecond, e.startSecond > s { return false }
        }
        return true
    }
}
