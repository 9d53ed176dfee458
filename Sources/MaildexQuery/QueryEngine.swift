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
            switch p {
            case .peer(let r):
                lists.append(try index.lookupRange(Terms.peer(r.lower), Terms.peer(r.upper)))
            case .address(let a):
                // An address in any role: no term of its own (it would double the address
                // terms); the union of its three roles.
                var roles = [[UInt64]]()
                for kind in [TermKind.sender, .recipient, .rejected] { roles.append(try index.lookup([kind.rawValue] + Terms.addressKey(a))) }
                lists.append(PostingList.union(roles))
            case .sender(let a): lists.append(try index.lookup([TermKind.sender.rawValue] + Terms.addressKey(a)))
            case .recipient(let a):
                lists.append(PostingList.union([try index.lookup([TermKind.recipient.rawValue] + Terms.addressKey(a)),
                                                try index.lookup([TermKind.rejected.rawValue] + Terms.addressKey(a))]))
            case .domain(let d): lists.append(try index.lookup([TermKind.domain.rawValue] + d))
            case .helo(let h): lists.append(try index.lookup([TermKind.helo.rawValue] + h))
            case .message(let m): lists.append(try index.lookup([TermKind.message.rawValue] + m))
            case .line(let n):
                if let d = singleDate {
                    lists.append(try index.lookup(Terms.line(n, d)))
                } else {
                    lists.append(try index.lookupRange(Terms.line(n), Terms.line(n) + [0xFF, 0xFF, 0xFF, 0xFF]))
                }
            }
            if lists.last!.isEmpty { return [] }
        }
        lists.sort { $0.count < $1.count }
        let hasDates = q.fromDate != nil || q.toDate != nil
        if hasDates && (lists.isEmpty || lists[0].count > 200_000) {
            let lower = q.fromDate ?? CivilDate(daysSinceEpoch: Int32.min + 1)
            let upper = q.toDate ?? CivilDate(daysSinceEpoch: Int32.max - 1)
            if lower > upper { return [] }
            lists.append(try index.lookupRange(Terms.date(lower), Terms.date(upper)))
            lists.sort { $0.count < $1.count }
        }
        guard var result = lists.first else { return [] }
        for l in lists.dropFirst() {
            result = PostingList.intersect(result, l)
            if result.isEmpty { return [] }
        }
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

    /// The length of a predicate's key in the index (0 for ranges and line ids).
    static func keyLength(_ p: Query.Predicate) -> Int {
        switch p {
        case .address(let k), .sender(let k), .recipient(let k), .domain(let k), .helo(let k), .message(let k): return k.count
        case .peer, .line: return 0
        }
    }

    /// Whether a session's facts hold a predicate's whole key, as its terms would.
    static func matchesWhole(_ p: Query.Predicate, _ f: SessionFacts) -> Bool {
        switch p {
        case .address(let a): return f.from.contains(a) || f.to.contains(a) || f.rejected.contains(a)
        case .sender(let a): return f.from.contains(a)
        case .recipient(let a): return f.to.contains(a) || f.rejected.contains(a)
        case .domain(let d): return (f.from + f.to + f.rejected).contains { Terms.domain(of: $0).map(Array.init) == d }
        case .helo(let h): return f.helo.map { $0.map(Bytes.lower) } == h
        case .message(let m): return f.messages.contains { $0.map(Bytes.lower) == m }
        case .peer, .line: return true
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
