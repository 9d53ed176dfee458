import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The keys of the inverted index. A term is one kind byte followed by the
/// key's bytes; terms sort as bytes, so every range a query needs (a CIDR block,
/// a span of dates, one line id on every date) is one contiguous run of terms.
/// Which query kinds look up which of these, and how each key is encoded: `TermKindInfo.all`.
public enum TermKind: UInt8, CaseIterable, Sendable {
    /// Peer address: 16 bytes, IPv4 mapped into IPv6 (`::ffff:a.b.c.d`).
    case peer = 0x49          // "I"
    /// Reserved: address in any role. Format 1 wrote it; now `addr:` is answered with
    /// the union of the three roles below, which halves the address terms.
    case address = 0x41       // "A"
    case sender = 0x46        // "F"
    /// Accepted recipient.
    case recipient = 0x54     // "T"
    case rejected = 0x52      // "R"
    /// The domain of an address in any role.
    case domain = 0x44        // "D"
    /// HELO/EHLO name, lowercased.
    case helo = 0x48          // "H"
    /// Message id (`S.0000014724`, CommuniGate queue ids), lowercased.
    case message = 0x4D       // "M"
    /// Line id (u32 big-endian) then date (u32 big-endian, days since 1970 + 2^31).
    case line = 0x4C          // "L"
    /// Date of the session's first line (u32 big-endian, as for `line`).
    case date = 0x59          // "Y"
    /// The server (`index --server NAME`) whose logs hold the session, lowercased.
    /// Format 4 on, as the three below.
    case server = 0x53        // "S"
    /// The account the session authenticated as, lowercased.
    case auth = 0x55          // "U"
    /// A state of the session, one term each: `tls:yes`/`tls:no`,
    /// `status:complete`/`status:incomplete`, `status:rejected` (a recipient was),
    /// `status:accepted` (a message was), `direction:in`/`direction:out`.
    case flag = 0x47          // "G"
    /// A message trail's message id, lowercased: the key by which a session's messages'
    /// trails are found. No query kind looks it up, so no query returns a trail.
    case trail = 0x51         // "Q"
}

/// The values of `TermKind.flag` terms, as the query writes them.
public enum SessionFlag: String, CaseIterable, Sendable {
    case tlsYes = "tls:yes", tlsNo = "tls:no"
    case complete = "status:complete", incomplete = "status:incomplete"
    case rejected = "status:rejected", accepted = "status:accepted"
    case inbound = "direction:in", outbound = "direction:out"

    public var key: [UInt8] { Array(rawValue.utf8) }

    /// Calls `body` with each flag a session with these facts has (no array: the
    /// index writer calls it once a session).
    @inline(__always)
    package static func forEach(complete: Bool, facts: SessionFacts, _ body: (SessionFlag) -> Void) {
        body(facts.tls ? .tlsYes : .tlsNo)
        body(complete ? .complete : .incomplete)
        body(facts.outbound ? .outbound : .inbound)
        if !facts.rejected.isEmpty { body(.rejected) }
        if facts.accepted { body(.accepted) }
    }
}

/// Where the bytes of a term go while it is written: the index writer's scratch buffer
/// (`TermBatch.Scratch`, which cuts a key at `Terms.maxKeyBytes`) or an array
/// (`TermBytes`, for the query side). The key layouts below are written once, against
/// this protocol; being generic and always inlined, they specialize to plain stores in
/// the writer (no existential, no allocation).
protocol TermSink {
    /// One byte (a sink with a key limit drops it past the limit).
    mutating func append(_ byte: UInt8)
    /// Bytes as they are (up to the key limit).
    mutating func append(_ bytes: UnsafeRawBufferPointer)
    /// Bytes, ASCII-lowercased (`Bytes.lower`; up to the key limit).
    mutating func appendLowered(_ bytes: UnsafeRawBufferPointer)
    /// A fixed-width field, big-endian. Only at the start of a key, which is then never
    /// near the key limit (a sink need not check it).
    mutating func appendBigEndian(_ v: UInt32)
    mutating func appendBigEndian(_ v: UInt64)
}

/// A term built as an array, for lookups.
struct TermBytes: TermSink {
    var bytes: [UInt8]

    init(_ kind: TermKind?) {
        bytes = []
        bytes.reserveCapacity(24)
        if let kind { bytes.append(kind.rawValue) }
    }

    mutating func append(_ byte: UInt8) { bytes.append(byte) }
    mutating func append(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
    mutating func appendLowered(_ b: UnsafeRawBufferPointer) { for c in b { bytes.append(Bytes.lower(c)) } }
    mutating func appendBigEndian(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
    mutating func appendBigEndian(_ v: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
}

public enum Terms {
    /// Keys longer than this are stored (and looked up) cut to this many bytes: a log
    /// line can hold a HELO name or an address of 100 KB, which must not become a term
    /// of 100 KB. Two such keys that agree on their first 256 bytes share a term; the
    /// query engine checks the sessions it finds by such a key against the whole key.
    public static let maxKeyBytes = 256

    // MARK: The key layouts (FORMAT.md §7), one function per `KeyEncoding`. Each writes
    // a key after its kind byte; the writer (`TermBatch.add(session:)`) and the lookups
    // below both call them.

    /// `.ipAddress16`: 16 bytes, network order (IPv4 as `::ffff:a.b.c.d`).
    @inline(__always) static func writePeerKey<S: TermSink>(_ a: IPAddress, to s: inout S) {
        s.appendBigEndian(a.high)
        s.appendBigEndian(a.low)
    }

    /// The date field: days since 1970 + 2^31, so that byte order is date order for
    /// negative days too.
    @inline(__always) static func dateField(_ d: CivilDate) -> UInt32 { UInt32(bitPattern: d.daysSinceEpoch) ^ 0x8000_0000 }

    /// `.date`: the date field, big-endian.
    @inline(__always) static func writeDateKey<S: TermSink>(_ d: CivilDate, to s: inout S) {
        s.appendBigEndian(dateField(d))
    }

    /// `.lineAndDate`: the line id, big-endian, then (a whole key; without it, the
    /// prefix of every date's key) the date field.
    @inline(__always) static func writeLineKey<S: TermSink>(_ id: UInt32, _ d: CivilDate?, to s: inout S) {
        s.appendBigEndian(id)
        if let d { s.appendBigEndian(dateField(d)) }
    }

    /// `.lowered`: the bytes, ASCII-lowercased.
    @inline(__always) static func writeLoweredKey<S: TermSink>(_ b: UnsafeRawBufferPointer, to s: inout S) {
        s.appendLowered(b)
    }

    /// Where an address's last `@` is (its domain follows).
    @inline(__always) static func lastAt(_ a: UnsafeRawBufferPointer) -> Int? { a.lastIndex(of: 64) }

    /// `.addressKey`: `domain@local`, split at the last `@` (`at`, from `lastAt`), so
    /// that the addresses of one domain sort together and the term dictionary's front
    /// coding stores each domain once per run, not once per address. An address
    /// without `@` is its own key. `address(fromKey:)` undoes it.
    @inline(__always) static func writeAddressKey<S: TermSink>(_ a: UnsafeRawBufferPointer, at: Int?, to s: inout S) {
        if let at {
            s.append(UnsafeRawBufferPointer(rebasing: a[(at + 1)...]))
            s.append(64)
            s.append(UnsafeRawBufferPointer(rebasing: a[..<at]))
        } else {
            s.append(a)
        }
    }

    /// Where the domain of an address of `count` bytes whose last `@` is at `at` starts
    /// (after the `@`), or nil when it has no `@` or nothing after it: such an address
    /// has no `.domain` term.
    @inline(__always) static func domainStart(at: Int?, count: Int) -> Int? {
        guard let at, at + 1 < count else { return nil }
        return at + 1
    }

    /// The domain of an address (last `@` at `at`), or nil; see `domainStart`.
    @inline(__always) static func domain(ofAddress a: UnsafeRawBufferPointer, at: Int?) -> UnsafeRawBufferPointer? {
        guard let start = domainStart(at: at, count: a.count) else { return nil }
        return UnsafeRawBufferPointer(rebasing: a[start...])
    }

    /// `.domain`: the domain's bytes as they are (of an address, `domain(ofAddress:at:)`).
    @inline(__always) static func writeDomainKey<S: TermSink>(_ d: UnsafeRawBufferPointer, to s: inout S) {
        s.append(d)
    }

    // MARK: Terms and keys as arrays, for lookups.

    /// The key of a date (no kind byte).
    public static func dateKey(_ d: CivilDate) -> [UInt8] {
        var t = TermBytes(nil); writeDateKey(d, to: &t); return t.bytes
    }

    public static func peer(_ a: IPAddress) -> [UInt8] { peer(a, kind: .peer) }
    public static func date(_ d: CivilDate) -> [UInt8] { date(d, kind: .date) }
    /// The prefix of line `id`'s terms on every date.
    public static func line(_ id: UInt32) -> [UInt8] { line(id, kind: .line) }
    public static func line(_ id: UInt32, _ d: CivilDate) -> [UInt8] { line(id, d, kind: .line) }

    /// The same, as terms of kind `kind` (one of a row's `stored` kinds).
    public static func peer(_ a: IPAddress, kind: TermKind) -> [UInt8] {
        var t = TermBytes(kind); writePeerKey(a, to: &t); return t.bytes
    }
    public static func date(_ d: CivilDate, kind: TermKind) -> [UInt8] {
        var t = TermBytes(kind); writeDateKey(d, to: &t); return t.bytes
    }
    public static func line(_ id: UInt32, kind: TermKind) -> [UInt8] {
        var t = TermBytes(kind); writeLineKey(id, nil, to: &t); return t.bytes
    }
    public static func line(_ id: UInt32, _ d: CivilDate, kind: TermKind) -> [UInt8] {
        var t = TermBytes(kind); writeLineKey(id, d, to: &t); return t.bytes
    }

    /// The term of kind `kind` for a value encoded as `encoding`: a HELO name or message
    /// id (`.lowered`), an address (`.addressKey`), a domain (`.domain`: the domain itself).
    /// For the encodings of numbers (`.ipAddress16`, `.date`, `.lineAndDate`), `value` is
    /// the key already (see `peer`, `date`, `line`). Not cut to `maxKeyBytes`: lookups cut.
    public static func term(_ kind: TermKind, _ encoding: KeyEncoding, _ value: some Collection<UInt8>) -> [UInt8] {
        var t = TermBytes(kind)
        Array(value).withUnsafeBytes { v in
            switch encoding {
            case .lowered: writeLoweredKey(v, to: &t)
            case .addressKey: writeAddressKey(v, at: lastAt(v), to: &t)
            case .domain: writeDomainKey(v, to: &t)
            case .ipAddress16, .date, .lineAndDate, .flag: t.append(v)
            }
        }
        return t.bytes
    }

    /// The key of an address term (no kind byte): `domain@local`, see `writeAddressKey`.
    public static func addressKey(_ a: some Collection<UInt8>) -> [UInt8] {
        var t = TermBytes(nil)
        Array(a).withUnsafeBytes { v in writeAddressKey(v, at: lastAt(v), to: &t) }
        return t.bytes
    }

    /// The address an address term's key stands for.
    public static func address(fromKey k: some Collection<UInt8>) -> [UInt8] {
        let b = Array(k)
        guard let at = b.firstIndex(of: 64) else { return b }
        return Array(b[(at + 1)...]) + [64] + b[..<at]
    }

    /// The domain part of a normalised address (after the last `@`), or nil: the key of
    /// its `.domain` term (see `domainStart`).
    public static func domain(of address: [UInt8]) -> ArraySlice<UInt8>? {
        domainStart(at: address.lastIndex(of: 64), count: address.count).map { address[$0...] }
    }
}
