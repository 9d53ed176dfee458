import MaildexSupport
import MaildexParse
import MaildexSessionize
import MaildexIndex
import MaildexQuery

/// The columns of an exported session, in the order `maildex export` writes them, with
/// their ClickHouse types as the Native format names them. `deploy/clickhouse/schema.sql`
/// declares the same columns in the same order (its own types may be wider:
/// `LowCardinality(String)` for a `String` here, which ClickHouse converts on insert);
/// the ClickHouse tests compare the two.
public enum ExportColumns {
    public static let all: [(name: String, type: String)] = [
        ("server", "String"), ("date", "Date32"), ("channel", "String"), ("line", "UInt32"),
        ("start", "String"), ("start_second", "UInt32"), ("end", "Nullable(String)"), ("complete", "Bool"),
        ("peer", "IPv6"), ("port", "Nullable(UInt16)"), ("helo", "Nullable(String)"),
        ("senders", "Array(String)"), ("recipients", "Array(String)"), ("rejected", "Array(String)"),
        ("messages", "Array(String)"), ("direction", "String"), ("tls", "Bool"), ("accepted", "Bool"),
        ("auth", "Nullable(String)"), ("file", "String"), ("first_line", "UInt64"), ("last_line", "UInt64"),
        ("offset", "UInt64"), ("sha256", "String"),
        ("lines", "Array(String)"), ("line_files", "Array(String)"), ("line_numbers", "Array(UInt64)"),
        ("line_offsets", "Array(UInt64)"),
        ("message_lines", "Array(String)"), ("message_line_files", "Array(String)"),
        ("message_line_numbers", "Array(UInt64)"), ("message_line_offsets", "Array(UInt64)"),
        ("files", "Array(String)"), ("files_sha256", "Array(String)"),
        ("session", "UInt64"), ("revision", "UInt32"), ("is_deleted", "UInt8"),
    ]

    /// The column names, comma separated (for `INSERT INTO maildex.sessions (...)`).
    public static var names: String { all.map(\.name).joined(separator: ", ") }
}

/// One session as a row of `maildex.sessions`: its facts, its lines and its trail's,
/// each line with its file, line number and byte offset, and the files' SHA-256.
struct ExportRow {
    var server: String
    var date: CivilDate
    var channel: String
    var line: UInt32
    var start: [UInt8]
    var startSecond: UInt32
    var end: [UInt8]?
    var complete: Bool
    var peer: IPAddress?
    var port: UInt16?
    var helo: [UInt8]?
    var senders: [[UInt8]]
    var recipients: [[UInt8]]
    var rejected: [[UInt8]]
    var messages: [[UInt8]]
    var direction: String
    var tls: Bool
    var accepted: Bool
    var auth: [UInt8]?
    var file: String
    var firstLine: UInt64
    var lastLine: UInt64
    var offset: UInt64
    var sha256: String
    var lines: Lines
    var messageLines: Lines
    var files: [String]
    var filesSHA256: [String]
    var session: UInt64
    var revision: UInt32
    var isDeleted: Bool = false

    /// Whole lines (the pieces of a line cut at a window's limit joined) and where each
    /// came from.
    struct Lines {
        var text: [ArraySlice<UInt8>] = []
        var files: [String] = []
        var numbers: [UInt64] = []
        var offsets: [UInt64] = []
        var sources: [UInt32] = []

        init() {}

        init(_ session: Session?, names: (UInt32) -> String) {
            guard let session else { return }
            var lastSource: UInt32 = .max
            var name = ""
            SessionView.forEachWholeLine(of: session) { l, bytes in
                if l.source != lastSource { name = names(l.source); lastSource = l.source }
                text.append(bytes); files.append(name); numbers.append(l.lineNumber); offsets.append(l.byteOffset)
                sources.append(l.source)
            }
        }
    }

    init(_ s: Session, trail: Session?, index: IndexReader) {
        let names = { (id: UInt32) in index.sourceName(id) }
        let f = s.facts
        server = index.server(of: s) ?? ""
        date = s.date
        channel = s.channel.kind == ChannelKey.smtpi ? "SMTPI" : "SMTP"
        line = s.lineID
        start = s.start
        startSecond = UInt32(max(0, s.start.withUnsafeBytes { RecordParser.secondOfDay($0) }))
        end = s.end
        complete = s.complete
        peer = f.peer
        port = f.port.flatMap { UInt16(exactly: $0) }
        helo = f.helo
        senders = f.from
        recipients = f.to
        rejected = f.rejected
        messages = f.messages
        direction = f.direction
        tls = f.tls
        accepted = f.accepted
        auth = f.auth
        lines = Lines(s, names: names)
        messageLines = Lines(trail, names: names)
        let first = s.lines.first
        file = first.map { names($0.source) } ?? ""
        firstLine = first?.lineNumber ?? 0
        lastLine = s.lines.last?.lineNumber ?? 0
        offset = first?.byteOffset ?? 0
        func digest(_ id: UInt32) -> String {
            guard let src = index.sources[id], src.hasDigest else { return "" }
            return SHA256Hasher.hex(src.sha256)
        }
        sha256 = first.map { digest($0.source) } ?? ""
        var seen = Set<UInt32>()
        var ids = [UInt32]()
        for id in lines.sources + messageLines.sources where seen.insert(id).inserted { ids.append(id) }
        files = ids.map(names)
        filesSHA256 = ids.map(digest)
        session = s.number
        revision = UInt32(clamping: lines.text.count + messageLines.text.count)
    }

    /// The 16 bytes of the peer as ClickHouse's `IPv6` holds them; `::` for none.
    var peerWords: (high: UInt64, low: UInt64) { peer.map { ($0.high, $0.low) } ?? (0, 0) }

    /// The peer as IPv6 text (IPv4 as `::ffff:a.b.c.d`), `::` for none.
    var peerText: String {
        guard let p = peer else { return "::" }
        return p.isV4 ? "::ffff:" + p.description : p.description
    }

    // MARK: Writing

    func append(to b: inout NativeBlock) {
        var c = 0
        func next() -> Int { defer { c += 1 }; return c }
        b.string(next(), server)
        b.int32(next(), date.daysSinceEpoch)
        b.string(next(), channel)
        b.uint32(next(), line)
        b.string(next(), start)
        b.uint32(next(), startSecond)
        b.nullableString(next(), end)
        b.bool(next(), complete)
        let p = peerWords
        b.ipv6(next(), high: p.high, low: p.low)
        b.nullableUInt16(next(), port)
        b.nullableString(next(), helo)
        b.strings(next(), senders)
        b.strings(next(), recipients)
        b.strings(next(), rejected)
        b.strings(next(), messages)
        b.string(next(), direction)
        b.bool(next(), tls)
        b.bool(next(), accepted)
        b.nullableString(next(), auth)
        b.string(next(), file)
        b.uint64(next(), firstLine)
        b.uint64(next(), lastLine)
        b.uint64(next(), offset)
        b.string(next(), sha256)
        for l in [lines, messageLines] {
            let text = next()
            for t in l.text { b.element(text, t) }
            b.endArray(text, l.text.count)
            b.strings(next(), l.files)
            b.uint64s(next(), l.numbers)
            b.uint64s(next(), l.offsets)
        }
        b.strings(next(), files)
        b.strings(next(), filesSHA256)
        b.uint64(next(), session)
        b.uint32(next(), revision)
        b.uint8(next(), isDeleted ? 1 : 0)
        b.endRow()
        assert(c == ExportColumns.all.count)
    }

    /// One JSONEachRow line (with its newline): the same columns by name. Bytes that are
    /// not UTF-8 become U+FFFD, as in `query --json`; the Native format keeps them.
    func appendJSON(to out: inout [UInt8]) {
        var o = JSONBytesWriter(capacity: 1024 + lines.text.reduce(0) { $0 + $1.count + 8 })
        o.string("server", server)
        o.string("date", date.description)
        o.string("channel", channel)
        o.uint("line", UInt64(line))
        o.string("start", bytes: start)
        o.uint("start_second", UInt64(startSecond))
        o.optionalString("end", bytes: end)
        o.bool("complete", complete)
        o.string("peer", peerText)
        o.optionalInt("port", port.map(Int.init))
        o.optionalString("helo", bytes: helo)
        o.strings("senders", bytes: senders)
        o.strings("recipients", bytes: recipients)
        o.strings("rejected", bytes: rejected)
        o.strings("messages", bytes: messages)
        o.string("direction", direction)
        o.bool("tls", tls)
        o.bool("accepted", accepted)
        o.optionalString("auth", bytes: auth)
        o.string("file", file)
        o.uint("first_line", firstLine)
        o.uint("last_line", lastLine)
        o.uint("offset", offset)
        o.string("sha256", sha256)
        func numbers(_ v: [UInt64]) -> [UInt8] { Array(("[" + v.map(String.init).joined(separator: ",") + "]").utf8) }
        for (prefix, l) in [("line", lines), ("message_line", messageLines)] {
            o.strings(prefix == "line" ? "lines" : "message_lines", bytes: l.text.map(Array.init))
            o.strings(prefix + "_files", bytes: l.files.map { Array($0.utf8) })
            o.raw(prefix + "_numbers", numbers(l.numbers))
            o.raw(prefix + "_offsets", numbers(l.offsets))
        }
        o.strings("files", bytes: files.map { Array($0.utf8) })
        o.strings("files_sha256", bytes: filesSHA256.map { Array($0.utf8) })
        o.uint("session", session)
        o.uint("revision", UInt64(revision))
        o.uint("is_deleted", isDeleted ? 1 : 0)
        out += o.finish()
        out.append(10)
    }
}
