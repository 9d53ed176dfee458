/// The kinds of query term, in one table (`TermKindInfo.all`): for each, its name and
/// aliases, its help lines (which make `Query.syntax`, shown by `maildex query --help`
/// and after every syntax error, and the kind list of the "unknown kind" message), the
/// stored term kinds (`TermKind`) it looks up (the query engine takes the union of their
/// posting lists), and how its key is encoded (`KeyEncoding`, written by one function per
/// encoding in `Terms`, which both the index writer and the lookups call).
///
/// Adding a kind, say `auth:` (the authenticated user, `SessionFacts.auth`), takes:
/// - a row here, with a `QueryKind` case (and, if it needs a stored kind of its own, a
///   new `TermKind` byte: FORMAT.md §7, and a format note, since older indexes lack it);
/// - the rule that extracts the fact: in `SessionRules` (the sessionizer, if the fact is
///   new) and in the writer, `TermBatch.add(session:scratch:)`, a term written with the
///   row's `Terms.write...Key`; on the query side, a `Query.Predicate` case, its parse in
///   `Query.parse` (the compiler asks: both switch over `QueryKind`), the engine's keys
///   in `QueryEngine.lookups` and its whole-key check in `QueryEngine.matchesWhole`;
/// - a test: `QueryTests.theTermKindTableIsWhatParsesDocumentsAndLooksUp` walks the
///   table and compares the writer's terms of a session with the query side's keys; it
///   needs the new fact on its session and the kind's values in its `values(of:)`.
public enum QueryKind: String, CaseIterable, Sendable {
    case ip, addr, from, to, domain, helo, msg, line, auth, tls, status, direction, server, date, since, until

    /// The name a query writes before the colon.
    public var name: String { rawValue }

    /// This kind's row of the table.
    public var info: TermKindInfo { TermKindInfo.byKind[self]! }

    /// The kind a query term's name stands for (its name or an alias, any case), or nil.
    public static func named(_ name: some StringProtocol) -> QueryKind? {
        TermKindInfo.byName[name.lowercased()]
    }
}

/// How a term's key (the bytes after its kind byte) is encoded: FORMAT.md §7. One
/// function in `Terms` writes each (`writePeerKey`, `writeLoweredKey`, ...).
public enum KeyEncoding: Sendable, Equatable {
    /// 16 bytes, network order, IPv4 mapped into IPv6; a CIDR range is a range of keys.
    case ipAddress16
    /// The bytes, ASCII-lowercased.
    case lowered
    /// A normalised address as `domain@local`, split at its last `@`.
    case addressKey
    /// The domain of an address: its bytes after the last `@` (a query gives the domain).
    case domain
    /// The line id, big-endian u32, then the date (as `.date`); one line on every date
    /// is the range of its keys.
    case lineAndDate
    /// Days since 1970 + 2^31, big-endian u32; a span of days is a range of keys.
    case date
    /// A state of the session as `kind:value` (`tls:yes`), one of `SessionFlag`.
    case flag
}

/// One row of the table of query kinds.
public struct TermKindInfo: Sendable {
    /// One line of `Query.syntax`: example values (each shown as `name:value`) and what
    /// the kind matches.
    public struct Help: Sendable {
        public let values: [String]
        public let meaning: String
        public init(_ values: [String], _ meaning: String) { self.values = values; self.meaning = meaning }
    }

    public let kind: QueryKind
    /// Other names for the kind (`peer:` for `ip:`).
    public let aliases: [String]
    public let help: [Help]
    /// Values that a bare term (without a kind) is taken as this kind by its shape
    /// (`Query.shape(of:)` has the rules); the help's last lines list them.
    public let bare: [String]
    /// The stored kinds a term of this kind looks up; it matches a session that any
    /// of them has.
    public let stored: [TermKind]
    public let encoding: KeyEncoding

    /// The value of the kind's first example (`203.0.113.9` for `ip:`).
    public var example: String { help[0].values[0] }

    /// The name and the aliases.
    public var names: [String] { [kind.name] + aliases }

    public static let all: [TermKindInfo] = [
        TermKindInfo(.ip, aliases: ["peer"], help: [
            Help(["203.0.113.9", "2001:db8::1"], "peer address"),
            Help(["203.0.113.0/24", "2001:db8::/32"], "peer address in a CIDR range"),
        ], bare: ["203.0.113.9", "10.0.0.0/8"], stored: [.peer], encoding: .ipAddress16),
        TermKindInfo(.addr, aliases: ["address"], help: [Help(["a@example.com"], "address in any role")],
                     bare: ["a@b.c"], stored: [.sender, .recipient, .rejected], encoding: .addressKey),
        TermKindInfo(.from, help: [Help(["a@example.com"], "sender")], stored: [.sender], encoding: .addressKey),
        TermKindInfo(.to, help: [Help(["a@example.com"], "recipient (accepted or rejected)")],
                     stored: [.recipient, .rejected], encoding: .addressKey),
        TermKindInfo(.domain, help: [Help(["example.com"], "any address at that domain")], stored: [.domain], encoding: .domain),
        TermKindInfo(.helo, help: [Help(["desk98"], "HELO name")], stored: [.helo], encoding: .lowered),
        TermKindInfo(.msg, aliases: ["message"], help: [Help(["S.0000014724"], "message id")],
                     bare: ["S.0000014724", "193024360"], stored: [.message], encoding: .lowered),
        TermKindInfo(.line, help: [
            Help(["509"], "line id"),
            Help(["SMTPI-60353", "SMTP-509"], "line id of one channel kind only"),
        ], stored: [.line], encoding: .lineAndDate),
        TermKindInfo(.auth, aliases: ["account"], help: [Help(["user@example.com"], "the account it logged in as")],
                     stored: [.auth], encoding: .lowered),
        TermKindInfo(.tls, help: [Help(["yes", "no"], "over TLS, or not")],
                     stored: [.flag], encoding: .flag),
        TermKindInfo(.status, help: [
            Help(["complete", "incomplete"], "opened and closed, or not"),
            Help(["rejected", "accepted"], "a recipient refused; mail taken"),
        ], stored: [.flag], encoding: .flag),
        TermKindInfo(.direction, help: [Help(["in", "out"], "to this server, or from it")],
                     stored: [.flag], encoding: .flag),
        TermKindInfo(.server, help: [Help(["mx01"], "in that server's logs")],
                     stored: [.server], encoding: .lowered),
        TermKindInfo(.date, help: [Help(["1999-04-28"], "sessions starting that day")],
                     bare: ["1999-04-28"], stored: [.date], encoding: .date),
        TermKindInfo(.since, help: [Help(["1999-04-01", "1999-04-28T21:00"], "sessions starting then or later"), Help(["7d", "36h"], "in the last 7 days, 36 hours")], stored: [.date], encoding: .date),
        TermKindInfo(.until, help: [Help(["1999-04-30", "1999-04-30T06:30"], "sessions starting then or before")],
                     stored: [.date], encoding: .date),
    ]

    init(_ kind: QueryKind, aliases: [String] = [], help: [Help], bare: [String] = [], stored: [TermKind], encoding: KeyEncoding) {
        self.kind = kind; self.aliases = aliases; self.help = help; self.bare = bare; self.stored = stored; self.encoding = encoding
    }

    static let byKind: [QueryKind: TermKindInfo] = Dictionary(uniqueKeysWithValues: all.map { ($0.kind, $0) })
    static let byName: [String: QueryKind] = Dictionary(uniqueKeysWithValues: all.flatMap { row in row.names.map { ($0, row.kind) } })
}
