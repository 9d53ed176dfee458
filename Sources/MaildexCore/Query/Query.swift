/// A parsed query: every predicate must hold (AND).
///
/// Syntax (see `maildex query --help`):
///   ip:203.0.113.9  ip:203.0.113.0/24  ip:2001:db8::/32
///   addr:a@b  from:a@b  to:a@b  domain:example.com  helo:desk98
///   msg:S.0000014724  line:509  date:1999-04-28  since:1999-04-01  until:1999-04-30
///   since:1999-04-28T21:00:00
/// A bare term is taken by its shape: an IP or CIDR, an address, a message id.
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
    }

    public var predicates: [Predicate] = []
    /// Whole days, inclusive.
    public var fromDate: CivilDate? = nil
    public var toDate: CivilDate? = nil
    /// Time bounds within `fromDate` / `toDate` (seconds since midnight), from `since:...T...`.
    public var fromSecond: Int32? = nil
    public var toSecond: Int32? = nil

    public init() {}

    public static let syntax = """
    query terms (all must match):
      ip:203.0.113.9   ip:203.0.113.0/24   ip:2001:db8::/32    peer address or CIDR range
      addr:a@example.com                                   address in any role
      from:a@example.com   to:a@example.com                sender / recipient (accepted or rejected)
      domain:example.com                                   any address at that domain
      helo:desk98   msg:S.0000014724   line:509            HELO name, message id, line id
      date:1999-04-28   since:1999-04-01   until:1999-04-30   since:1999-04-28T21:00:00
    a bare term is taken by its shape: 203.0.113.9, 10.0.0.0/8, a@b.c, S.0000014724, 193024360
    """

    public struct SyntaxError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message + "\n\n" + Query.syntax }
    }

    public static func parse(_ terms: [String]) throws -> Query {
        var q = Query()
        guard !terms.isEmpty else { throw SyntaxError(message: "no query terms") }
        for raw in terms {
            let term = raw.trimmingSpaces()
            guard !term.isEmpty else { continue }
            var key = "", value = term
            if let colon = term.firstIndex(of: ":") {
                let k = term[..<colon].lowercased()
                if ["ip", "addr", "from", "to", "domain", "helo", "msg", "line", "date", "since", "until", "peer", "address", "message"].contains(k) {
                    key = k
                    value = String(term[term.index(after: colon)...])
                }
            }
            if key.isEmpty { key = try shape(of: term) }
            guard !value.isEmpty else { throw SyntaxError(message: "`\(raw)`: empty value") }
            func address() -> [UInt8] {
                Array(value.utf8).filter { $0 != 32 && $0 != 60 && $0 != 62 }.map(Bytes.lower)
            }
            switch key {
            case "ip", "peer":
                guard let r = CIDRRange(value) else { throw SyntaxError(message: "`\(raw)`: not an IP address or CIDR range") }
                q.predicates.append(.peer(r))
            case "addr", "address": q.predicates.append(.address(address()))
            case "from": q.predicates.append(.sender(address()))
            case "to": q.predicates.append(.recipient(address()))
            case "domain":
                var d = address()
                if d.first == 64 { d.removeFirst() }
                q.predicates.append(.domain(d))
            case "helo": q.predicates.append(.helo(Array(value.utf8).map(Bytes.lower)))
            case "msg", "message":
                var v = value
                if v.hasPrefix("{") || v.hasPrefix("[") { v = String(v.dropFirst().dropLast()) }
                q.predicates.append(.message(Array(v.utf8).map(Bytes.lower)))
            case "line":
                guard let n = UInt32(value) else { throw SyntaxError(message: "`\(raw)`: a line id is a number") }
                q.predicates.append(.line(n))
            case "date":
                guard let d = CivilDate(iso: value), value.count == 10 else { throw SyntaxError(message: "`\(raw)`: dates are YYYY-MM-DD") }
                q.fromDate = max(q.fromDate ?? d, d)
                q.toDate = min(q.toDate ?? d, d)
            case "since", "until":
                let (d, second) = try dateTime(value, raw)
                if key == "since" {
                    if q.fromDate.map({ d > $0 }) ?? true { q.fromDate = d; q.fromSecond = second }
                } else {
                    if q.toDate.map({ d < $0 }) ?? true { q.toDate = d; q.toSecond = second }
                }
            default:
                throw SyntaxError(message: "`\(raw)`: unknown term")
            }
        }
        if q.predicates.isEmpty && q.fromDate == nil && q.toDate == nil { throw SyntaxError(message: "no query terms") }
        return q
    }

    /// What a bare term is, by its shape.
    static func shape(of term: String) throws -> String {
        if CIDRRange(term) != nil { return "ip" }
        if term.contains("@") { return "addr" }
        let u = term.uppercased()
        if u.hasPrefix("S.") && u.count > 2 && u.dropFirst(2).allSatisfy(\.isNumber) { return "msg" }
        if term.count >= 6 && term.allSatisfy(\.isNumber) { return "msg" }  // a CommuniGate queue id
        if CivilDate(iso: term) != nil && term.count == 10 { return "date" }
        throw SyntaxError(message: "`\(term)`: not a query term (give a kind, like ip:, addr:, msg:, line:)")
    }

    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]`.
    static func dateTime(_ value: String, _ raw: String) throws -> (CivilDate, Int32?) {
        let parts = value.split(separator: "T", maxSplits: 1).map(String.init)
        guard let d = CivilDate(iso: parts[0]), parts[0].count == 10 else { throw SyntaxError(message: "`\(raw)`: dates are YYYY-MM-DD[THH:MM:SS]") }
        guard parts.count == 2 else { return (d, nil) }
        let hms = parts[1].split(separator: ":").map { Int($0) }
        guard (2...3).contains(hms.count), hms.allSatisfy({ $0 != nil }), hms[0]! < 24, hms[1]! < 60, (hms.count == 2 || hms[2]! < 60)
        else { throw SyntaxError(message: "`\(raw)`: times are HH:MM[:SS]") }
        return (d, Int32(hms[0]! * 3600 + hms[1]! * 60 + (hms.count == 3 ? hms[2]! : 0)))
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
