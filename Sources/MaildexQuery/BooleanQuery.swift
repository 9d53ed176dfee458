import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize
import MaildexIndex

extension Query {
    /// A condition made of predicates: all of them, any of them, or not this one.
    public indirect enum Expr: Equatable, Sendable {
        case predicate(Predicate)
        case all([Expr])
        case any([Expr])
        case not(Expr)
    }
}

/// Reads the query language with its boolean forms: terms side by side must all hold;
/// `A OR B`; `NOT A` or `-A`; parentheses; `kind:a,b` (either value).
///
/// Time bounds (`date:`, `since:`, `until:`) and a line id of one channel kind
/// (`line:SMTP-509`) narrow the whole query, so they stand outside `OR`, `NOT` and
/// parentheses; so do keys longer than the index keeps (`Terms.maxKeyBytes`), which
/// are checked on the sessions' facts after the lookup.
struct BooleanParser {
    struct Token { var text: String; var position: Int }

    private var tokens: [Token] = []
    private var at = 0
    private var query = Query()
    private var lower: (CivilDate, Int32)? = nil
    private var upper: (CivilDate, Int32)? = nil
    /// Whether the top level has an `OR` outside parentheses: then nothing is at the top.
    private var topLevelOr = false
    /// The local time relative times count back from (read when one needs it).
    private let now: () -> (CivilDate, Int32)

    init(_ terms: [String], now: @escaping () -> (CivilDate, Int32)) {
        self.now = now
        for (position, raw) in terms.enumerated() {
            var t = Substring(raw.trimmingSpaces())
            var closing = 0
            while t.first == "(" { tokens.append(Token(text: "(", position: position)); t = t.dropFirst() }
            while t.last == ")", !Self.closesItsValue(t) { closing += 1; t = t.dropLast() }
            if !t.isEmpty { tokens.append(Token(text: String(t), position: position)) }
            for _ in 0..<closing { tokens.append(Token(text: ")", position: position)) }
        }
        var depth = 0
        for t in tokens {
            if t.text == "(" { depth += 1 } else if t.text == ")" { depth -= 1 } else if t.text == "OR", depth == 0 { topLevelOr = true }
        }
    }

    /// A `)` that belongs to the value (`helo:(x)`), not to the query.
    static func closesItsValue(_ t: Substring) -> Bool {
        t.filter { $0 == "(" }.count >= t.filter { $0 == ")" }.count
    }

    mutating func parse() throws -> Query {
        guard !tokens.isEmpty else { throw Query.syntaxError("no query terms") }
        let items = try parseOr(grouped: topLevelOr)
        if at < tokens.count {
            let t = tokens[at]
            throw Query.syntaxError(t.text == ")" ? "a `)` without its `(`" : "`\(t.text)`: unexpected here", position: t.position)
        }
        for item in items {
            if case .predicate(let p) = item { query.predicates.append(p) } else { query.groups.append(item) }
        }
        if let (d, second) = lower { query.fromDate = d; query.fromSecond = second > 0 ? second : nil }
        if let (d, second) = upper { query.toDate = d; query.toSecond = second < Query.lastSecond ? second : nil }
        if query.predicates.isEmpty && query.groups.isEmpty && query.fromDate == nil && query.toDate == nil {
            throw Query.syntaxError("no query terms")
        }
        return query
    }

    /// `A OR B OR ...`: the conditions that must all hold (one `.any` when there is an `OR`).
    private mutating func parseOr(grouped: Bool) throws -> [Query.Expr] {
        var alternatives = [try parseAnd(grouped: grouped)]
        while at < tokens.count, tokens[at].text == "OR" {
            let or = tokens[at]
            at += 1
            guard at < tokens.count, tokens[at].text != ")", tokens[at].text != "OR" else {
                throw Query.syntaxError("`OR` needs a term after it", position: or.position)
            }
            alternatives.append(try parseAnd(grouped: true))
        }
        if alternatives.count == 1 { return alternatives[0] }
        for (k, a) in alternatives.enumerated() where a.isEmpty {
            throw Query.syntaxError("`OR` needs a term on each side", position: k == 0 ? tokens.first?.position : nil)
        }
        return [.any(alternatives.map { $0.count == 1 ? $0[0] : .all($0) })]
    }

    /// Terms side by side, up to an `OR`, a `)` or the end.
    private mutating func parseAnd(grouped: Bool) throws -> [Query.Expr] {
        var items = [Query.Expr]()
        while at < tokens.count, tokens[at].text != "OR", tokens[at].text != ")" {
            if let e = try parseUnary(grouped: grouped) { items.append(e) }
        }
        return items
    }

    private mutating func parseUnary(grouped: Bool) throws -> Query.Expr? {
        let t = tokens[at]
        if t.text == "NOT" {
            at += 1
            guard at < tokens.count, tokens[at].text != ")", tokens[at].text != "OR" else {
                throw Query.syntaxError("`NOT` needs a term after it", position: t.position)
            }
            return .not(try require(parseUnary(grouped: true), t))
        }
        if t.text == "(" {
            at += 1
            let inner = try parseOr(grouped: true)
            guard at < tokens.count, tokens[at].text == ")" else { throw Query.syntaxError("a `(` without its `)`", position: t.position) }
            at += 1
            guard !inner.isEmpty else { throw Query.syntaxError("`()` holds no term", position: t.position) }
            return inner.count == 1 ? inner[0] : .all(inner)
        }
        at += 1
        if t.text.hasPrefix("-"), t.text.count > 1 {
            let rest = String(t.text.dropFirst())
            return .not(try require(term(rest, t.position, grouped: true), t))
        }
        return try term(t.text, t.position, grouped: grouped)
    }

    private func require(_ e: Query.Expr?, _ t: Token) throws -> Query.Expr {
        guard let e else { throw Query.syntaxError("`\(t.text)`: dates and times narrow the whole query; they cannot be negated", position: t.position) }
        return e
    }

    /// One term (or a comma list, as `.any`); nil for a time bound, which narrows the query.
    private mutating func term(_ text: String, _ position: Int, grouped: Bool) throws -> Query.Expr? {
        let terms = try Query.terms(text, position: position, now: now)
        var preds = [Query.Expr]()
        for term in terms {
            switch term {
            case .predicate(let p, let lineKind):
                if let lineKind {
                    if grouped || terms.count > 1 {
                        throw Query.syntaxError("`\(text)`: a line id of one channel kind narrows the whole query; write it outside OR, NOT, parentheses and lists", position: position)
                    }
                    query.lineKinds.append(lineKind)
                }
                if (grouped || terms.count > 1), QueryEngine.keyLength(p) > Terms.maxKeyBytes {
                    throw Query.syntaxError("`\(text.prefix(60))...`: a value over \(Terms.maxKeyBytes) bytes can only stand on its own, outside OR, NOT and lists", position: position)
                }
                preds.append(.predicate(p))
            case .lower, .upper, .day:
                if grouped {
                    throw Query.syntaxError("`\(text)`: dates and times narrow the whole query; write them outside OR, NOT and parentheses", position: position)
                }
                bound(term)
            }
        }
        if preds.isEmpty { return nil }
        return preds.count == 1 ? preds[0] : .any(preds)
    }

    private mutating func bound(_ term: Query.Term) {
        func later(_ a: (CivilDate, Int32), _ b: (CivilDate, Int32)) -> (CivilDate, Int32) { a < b ? b : a }
        func earlier(_ a: (CivilDate, Int32), _ b: (CivilDate, Int32)) -> (CivilDate, Int32) { a < b ? a : b }
        switch term {
        case .lower(let d, let s): lower = later(lower ?? (d, s), (d, s))
        case .upper(let d, let s): upper = earlier(upper ?? (d, s), (d, s))
        case .day(let d):
            lower = later(lower ?? (d, 0), (d, 0))
            upper = earlier(upper ?? (d, Query.lastSecond), (d, Query.lastSecond))
        case .predicate: break
        }
    }
}
