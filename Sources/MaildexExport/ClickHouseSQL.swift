import MaildexSupport
import MaildexParse
import MaildexSessionize
import MaildexIndex
import MaildexQuery

/// A query of maildex's language as one ClickHouse `SELECT` over `maildex.sessions`
/// (`deploy/clickhouse/schema.sql`): the sessions it returns are the ones `maildex query`
/// returns from an index of the same logs, each term matched as the index matches it.
///
/// - `ip:` a range of `peer` (IPv4 mapped into IPv6, as the index keys it); sessions
///   with no peer (`::`) match no range.
/// - `addr:`, `from:`, `to:` `has()` on the address arrays, which hold the addresses as
///   the index does (lowercased, no `<>`); `domain:` `has(domains, ...)`, the domain
///   after each address's last `@`.
/// - `helo:`, `auth:`, `msg:` the lowercased keys the table computes on insert
///   (`helo_key`, `auth_key`, `message_keys`); `server:`, `line:` the columns.
/// - `tls:`, `status:`, `direction:` the columns they come from (`status:rejected`: a
///   refused recipient).
/// - `date:`, `since:`, `until:` bounds on (`date`, `start_second`): the day of the file
///   that holds the first line, and its time.
/// - Terms side by side are `AND`, `OR` is `OR`, `NOT`/`-` is `NOT`.
///
/// The table is read `FINAL` (a session loaded twice is one row), ordered oldest first
/// (by date, time, server, file and offset), and the first columns are those of
/// `query --json` with the same values: date, line, start, end, complete, peer, port,
/// helo, from, to, rejected, messages, server, direction, tls, auth; then where the
/// session came from, its lines and its trail.
public enum ClickHouseSQL {
    public static let table = "maildex.sessions"

    /// The SELECT for `query`; `newest` orders newest first, `limit` keeps that many.
    public static func select(_ query: Query?, newest: Bool = false, limit: Int? = nil) -> String {
        let condition = query.map(condition(of:)) ?? ""
        let direction = newest ? " DESC" : ""
        // The inner SELECT reads the table and names its computed columns apart from the
        // table's (ClickHouse would take an alias `peer` for the column `peer` in WHERE);
        // the outer one gives them the names `query --json` has.
        var inner = """
            SELECT *,
                if(peer = toIPv6('::'), NULL,
                   if(startsWith(toString(peer), '::ffff:') AND position(toString(peer), '.') > 0,
                      substring(toString(peer), 8), toString(peer))) AS peer_text,
                nullIf(server, '') AS server_name
            FROM \(table) FINAL
        """
        if !condition.isEmpty { inner += "\n    WHERE " + condition }
        var sql = """
        SELECT
            date, line, start, `end`, complete, peer_text AS peer, port, helo,
            senders AS `from`, recipients AS `to`, rejected, messages,
            server_name AS server, direction, tls, auth,
            channel, accepted, file, first_line, last_line, offset, sha256,
            lines, line_files, line_numbers, line_offsets,
            message_lines, message_line_files, message_line_numbers, message_line_offsets,
            files, files_sha256, session, revision
        FROM (
        \(inner)
        )
        ORDER BY date\(direction), start\(direction), server\(direction), file\(direction), offset\(direction)
        """
        if let limit { sql += "\nLIMIT \(limit)" }
        return sql
    }

    /// The WHERE condition of `query` (empty if it has none).
    public static func condition(of q: Query) -> String {
        var parts = q.predicates.map(predicate)
        parts += q.groups.map(expression)
        for kind in q.lineKinds { parts.append("channel = " + literal(kind == UInt32(ChannelKey.smtpi) ? "SMTPI" : "SMTP")) }
        if let d = q.fromDate {
            var c = "date >= \(date(d))"
            if let s = q.fromSecond { c += " AND (date > \(date(d)) OR start_second >= \(s))" }
            parts.append(c)
        }
        if let d = q.toDate {
            var c = "date <= \(date(d))"
            if let s = q.toSecond { c += " AND (date < \(date(d)) OR start_second <= \(s))" }
            parts.append(c)
        }
        return parts.joined(separator: "\n  AND ")
    }

    static func expression(_ e: Query.Expr) -> String {
        switch e {
        case .predicate(let p): return predicate(p)
        case .all(let items): return "(" + items.map(expression).joined(separator: " AND ") + ")"
        case .any(let items): return "(" + items.map(expression).joined(separator: " OR ") + ")"
        case .not(let inner): return "NOT " + expression(inner)
        }
    }

    static func predicate(_ p: Query.Predicate) -> String {
        switch p {
        case .peer(let r):
            var c = "peer BETWEEN \(ipv6(r.lower)) AND \(ipv6(r.upper))"
            if r.lower.high == 0 && r.lower.low == 0 { c = "(\(c) AND peer != toIPv6('::'))" }
            return c
        case .address(let a):
            let v = literal(a)
            return "(has(senders, \(v)) OR has(recipients, \(v)) OR has(rejected, \(v)))"
        case .sender(let a): return "has(senders, \(literal(a)))"
        case .recipient(let a):
            let v = literal(a)
            return "(has(recipients, \(v)) OR has(rejected, \(v)))"
        case .domain(let d): return "has(domains, \(literal(d)))"
        case .helo(let h): return "helo_key = \(literal(h))"
        case .message(let m): return "has(message_keys, \(literal(m)))"
        case .line(let n): return "line = \(n)"
        case .auth(let a): return "auth_key = \(literal(a))"
        case .server(let s): return "server = \(literal(s))"
        case .flag(let f):
            switch f {
            case .tlsYes: return "tls"
            case .tlsNo: return "NOT tls"
            case .complete: return "complete"
            case .incomplete: return "NOT complete"
            case .rejected: return "notEmpty(rejected)"
            case .accepted: return "accepted"
            case .inbound: return "direction = 'in'"
            case .outbound: return "direction = 'out'"
            }
        }
    }

    static func date(_ d: CivilDate) -> String { "toDate32('\(d.description)')" }

    /// An address as ClickHouse's IPv6 literal: IPv4 mapped (`::ffff:a.b.c.d`).
    static func ipv6(_ a: IPAddress) -> String {
        "toIPv6('" + (a.isV4 ? "::ffff:" + a.description : a.description) + "')"
    }

    /// A ClickHouse string literal of raw bytes: quotes and backslashes escaped, bytes
    /// outside printable ASCII as `\xHH`, so any query value (and any byte) is quoted
    /// safely.
    public static func literal(_ bytes: [UInt8]) -> String {
        var out = "'"
        let hex = Array("0123456789abcdef")
        for b in bytes {
            switch b {
            case 39: out += "\\'"
            case 92: out += "\\\\"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
            default: out += "\\x" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)])
            }
        }
        return out + "'"
    }

    public static func literal(_ s: String) -> String { literal(Array(s.utf8)) }
}
