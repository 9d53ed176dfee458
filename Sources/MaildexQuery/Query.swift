#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize
import MaildexIndex

/// A parsed query: every predicate and every group must hold (AND), within the time bounds.
///
/// Syntax (`Query.syntax`, shown by `maildex query --help`; made from the table of
/// kinds, `TermKindInfo.all`): `kind:value` terms such as `ip:203.0.113.0/24`,
/// `from:a@b`, `msg:S.0000014724`, `line:509`, `since:1999-04-28T21:00`.
/// A bare term is taken by its shape: an IP or CIDR, an address, a message id, a date.
public struct Query: Equatable, Sendable {
    public enum Predicate: Equatable, Sendable {
        case peer(CIDRRange)
        case address([UInt8])
        case sender([UInt8])
        /// Accepted or rejected recipient.
        case recipient([UInt8])
        case domain([UInt8])
        case helo([UInt8])
        case message([UInt8])
        case line(UInt32)
        case auth([UInt8])
        case server([UInt8])
        case flag(SessionFlag)

        /// The query kind whose row (`kind.info`) says what the predicate looks up.
        public var kind: QueryKind {
            switch self {
            case .peer: return .ip
            case .address: return .addr
            case .sender: return .from
            case .recipient: return .to
            case .domain: return .domain
            case .helo: return .helo
            case .message: return .msg
            case .line: return .line
            case .auth: return .auth
            case .server: return .server
            case .flag(let f):
                switch f {
                case .tlsYes, .tlsNo: return .tls
                case .complete, .incomplete, .rejected, .accepted: return .status
                case .inbound, .outbound: return .direction
                }
            }
        }
    }

    public var predicates: [Predicate] = []
    /// Conditions beyond single predicates (`A OR B`, `NOT A`, a comma list), each of
    /// which must hold too.
    public var groups: [Expr] = []
    /// Whole days, inclusive.
    public var fromDate: CivilDate? = nil
    public var toDate: CivilDate? = nil
    /// Time bounds within `fromDate` / `toDate` (seconds since midnight), from `since:...T...`.
    public var fromSecond: Int32? = nil
    public var toSecond: Int32? = nil
    /// Channel kinds a `line:SMTP-N` / `line:SMTPI-N` term asks for (1 SMTP, 2 SMTPI);
    /// a session must be of each. A bare `line:N` matches both.
    public var lineKinds: [UInt32] = []

    public init() {}

    /// The accepted forms: a line per help line of the table of kinds (`TermKindInfo.all`),
    /// then the bare terms; lines of at most `syntaxWidth` columns.
    public static let syntax: String = {
        let lines = TermKindInfo.all.flatMap { row in row.help.map { help in
            (help.values.map { "\(row.kind.name):\($0)" }.joined(separator: "   "), help.meaning)
        } }
        let column = 2 + lines.map(\.0.count).max()! + 3
        var out = "query terms (all must match):\n"
        for (examples, meaning) in lines {
            let left = "  " + examples
            out += left + String(repeating: " ", count: column - left.count) + meaning + "\n"
        }
        var line = "a bare term is taken by its shape:"
        let bare = TermKindInfo.all.flatMap(\.bare)
        for (k, value) in bare.enumerated() {
            let word = value + (k + 1 < bare.count ? "," : "")
            if line.count + 1 + word.count > syntaxWidth { out += line + "\n"; line = "  " + word } else { line += " " + word }
        }
        out += line + "\n"
        return out + "combine: terms side by side (all), A OR B, NOT A or -A, (A OR B) C,\n  ip:a,b (either); dates and times narrow the whole query"
    }()

    /// `maildex query --help` (ArgumentParser) wraps lines of 80 columns or more.
    static let syntaxWidth = 78

    /// The kinds, as the "unknown kind" message lists them: `ip: addr: ... until:`.
    static var kindList: String { TermKindInfo.all.map { $0.kind.name + ":" }.joined(separator: " ") }

    /// A query that does not parse: a `MaildexError` of kind `.syntax`, with the term's
    /// position and the accepted forms (`Query.syntax`).
    public typealias SyntaxError = MaildexError

    /// `now`: the local date and second of day that relative times (`since:7d`) count
    /// back from; the machine's clock when nil.
    public static func parse(_ terms: [String], now: (CivilDate, Int32)? = nil) throws -> Query {
        // The clock is read only for a relative time.
        var parser = BooleanParser(terms, now: { now ?? Query.localNow() })
        return try parser.parse()
    }

    /// The local date and second of day now.
    public static func localNow() -> (CivilDate, Int32) {
        var t = time(nil)
        var tm = tm()
        localtime_r(&t, &tm)
        let year = Int(tm.tm_year) + 1900, month = Int(tm.tm_mon) + 1, day = Int(tm.tm_mday)
        let d = CivilDate(year: year, month: month, day: day) ?? CivilDate(daysSinceEpoch: 0)
        let hours = Int32(tm.tm_hour), minutes = Int32(tm.tm_min), seconds = Int32(tm.tm_sec)
        return (d, hours * 3600 + minutes * 60 + seconds)
    }

    /// `7d`, `36h`, `90m`: that long before `now`; nil if `value` is not of that form.
    static func relative(_ value: String, now: () -> (CivilDate, Int32)) -> (CivilDate, Int32)? {
        guard let unit = value.last, let n = Int(value.dropLast()), n >= 0, n < 1_000_000, value.count >= 2 else { return nil }
        let seconds: Int
        switch unit {
        case "d": seconds = n * 86_400
        case "h": seconds = n * 3_600
        case "m": seconds = n * 60
        default: return nil
        }
        let (date, second) = now()
        let absolute = Int(date.daysSinceEpoch) * 86_400 + Int(second) - seconds
        let day = absolute.floorDiv(86_400)
        return (CivilDate(daysSinceEpoch: Int32(day)), Int32(absolute - day * 86_400))
    }

    /// What one term is: a predicate, or a bound on the sessions' start (date, since, until).
    enum Term {
        case predicate(Predicate, lineKind: UInt32?)
        case lower(CivilDate, Int32)
        case upper(CivilDate, Int32)
        case day(CivilDate)
    }

    /// Reads one term, `raw` at `position`; a comma list (`ip:a,b`) gives one term per value.
    static func terms(_ raw: String, position: Int, now: () -> (CivilDate, Int32)) throws -> [Term] {
        let term = raw.trimmingSpaces()
        let kind: QueryKind
        var value = term
        if let colon = term.firstIndex(of: ":"), let k = QueryKind.named(term[..<colon]) {
            kind = k
            value = String(term[term.index(after: colon)...])
        } else {
            do { kind = try shape(of: term) } catch let e as MaildexError {
                throw Query.syntaxError(e.message, position: position)
            }
        }
        guard !value.isEmpty else { throw syntaxError("`\(raw)`: empty value", position: position) }
        if value.contains(","), kind != .date, kind != .since, kind != .until {
            let values = value.split(separator: ",", omittingEmptySubsequences: false)
            guard values.allSatisfy({ !$0.isEmpty }) else { throw syntaxError("`\(raw)`: an empty value in the list", position: position) }
            return try values.flatMap { try terms(kind.name + ":" + $0, position: position, now: now) }
        }
        func address() -> [UInt8] {
            Array(value.utf8).filter { $0 != 32 && $0 != 60 && $0 != 62 }.map(Bytes.lower)
        }
        switch kind {
        case .ip:
            guard let r = CIDRRange(value) else { throw syntaxError("`\(raw)`: not an IP address or CIDR range", position: position) }
            return [.predicate(.peer(r), lineKind: nil)]
        case .addr: return [.predicate(.address(address()), lineKind: nil)]
        case .from: return [.predicate(.sender(address()), lineKind: nil)]
        case .to: return [.predicate(.recipient(address()), lineKind: nil)]
        case .domain:
            var d = address()
            if d.first == 64 { d.removeFirst() }
            return [.predicate(.domain(d), lineKind: nil)]
        case .helo: return [.predicate(.helo(Array(value.utf8).map(Bytes.lower)), lineKind: nil)]
        case .msg:
            var v = value
            if v.hasPrefix("{") || v.hasPrefix("[") { v = String(v.dropFirst().dropLast()) }
            return [.predicate(.message(Array(v.utf8).map(Bytes.lower)), lineKind: nil)]
        case .line:
            var number = Substring(value)
            var lineKind: UInt32? = nil
            let upperValue = value.uppercased()
            if upperValue.hasPrefix("SMTPI-") { lineKind = UInt32(ChannelKey.smtpi); number = number.dropFirst(6) }
            else if upperValue.hasPrefix("SMTP-") { lineKind = UInt32(ChannelKey.smtp); number = number.dropFirst(5) }
            guard let n = UInt32(number) else {
                throw syntaxError("`\(raw)`: a line id is a number, or SMTP-N / SMTPI-N", position: position)
            }
            return [.predicate(.line(n), lineKind: lineKind)]
        case .auth: return [.predicate(.auth(address()), lineKind: nil)]
        case .server: return [.predicate(.server(Array(value.utf8).map(Bytes.lower)), lineKind: nil)]
        case .tls, .status, .direction:
            let lowered = value.lowercased()
            let wanted = kind == .tls && (lowered == "true" || lowered == "1") ? "yes"
                : kind == .tls && (lowered == "false" || lowered == "0") ? "no" : lowered
            guard let flag = SessionFlag(rawValue: kind.name + ":" + wanted) else {
                let values = kind.info.help.flatMap(\.values).joined(separator: ", ")
                throw syntaxError("`\(raw)`: \(kind.name): is one of \(values)", position: position)
            }
            return [.predicate(.flag(flag), lineKind: nil)]
        case .date:
            guard let d = CivilDate(iso: value), value.count == 10 else { throw syntaxError("`\(raw)`: dates are YYYY-MM-DD", position: position) }
            return [.day(d)]
        case .since:
            let (d, second) = try Query.relative(value, now: now) ?? dateTime(value, raw, end: false, position: position)
            return [.lower(d, second)]
        case .until:
            let (d, second) = try Query.relative(value, now: now) ?? dateTime(value, raw, end: true, position: position)
            return [.upper(d, second)]
        }
    }

    /// A syntax error about the term at `position` (nil: about the whole query).
    static func syntaxError(_ message: String, position: Int? = nil) -> MaildexError {
        MaildexError(.syntax, message, position: position, accepted: Query.syntax)
    }

    /// What a bare term is, by its shape (the table's `bare` values are examples).
    static func shape(of term: String) throws -> QueryKind {
        if CIDRRange(term) != nil { return .ip }
        if let colon = term.firstIndex(of: ":"), let at = term.firstIndex(of: "@"), colon < at,
           term[..<colon].allSatisfy({ $0.isASCII && $0.isLetter }) {
            // `rcpt:a@b.example` is a misspelt kind, not an address: say so rather than find nothing.
            throw syntaxError("`\(term)`: unknown kind `\(term[..<colon]):` (kinds: \(kindList))")
        }
        if term.contains("@") { return .addr }
        let u = term.uppercased()
        if u.hasPrefix("S.") && u.count > 2 && u.dropFirst(2).allSatisfy(\.isNumber) { return .msg }
        if term.count >= 6 && term.allSatisfy(\.isNumber) { return .msg }  // a CommuniGate queue id
        if CivilDate(iso: term) != nil && term.count == 10 { return .date }
        throw syntaxError("`\(term)`: not a query term (give a kind, like ip:, addr:, msg:, line:)")
    }

    static let lastSecond: Int32 = 86_399

    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]`. Without a time, the day's first second
    /// (or, for an upper bound, its last); `until:...THH:MM` includes that whole minute.
    static func dateTime(_ value: String, _ raw: String, end: Bool, position: Int? = nil) throws -> (CivilDate, Int32) {
        let parts = value.split(separator: "T", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let day = parts.first, day.count == 10, let d = CivilDate(iso: day) else {
            throw syntaxError("`\(raw)`: dates are YYYY-MM-DD[THH:MM[:SS]], or a time ago such as 7d, 36h, 90m", position: position)
        }
        guard parts.count == 2 else { return (d, end ? lastSecond : 0) }
        let fields = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        let numbers = fields.map { f -> Int32? in
            guard f.count == 2, f.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return Int32(f)
        }
        guard (2...3).contains(numbers.count), numbers.allSatisfy({ $0 != nil }), numbers[0]! < 24, numbers[1]! < 60,
              numbers.count == 2 || numbers[2]! < 60 else {
            throw syntaxError("`\(raw)`: times are HH:MM or HH:MM:SS", position: position)
        }
        let seconds = numbers.count == 3 ? numbers[2]! : (end ? 59 : 0)
        return (d, numbers[0]! * 3600 + numbers[1]! * 60 + seconds)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
