import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize
import MaildexIndex

/// How a session is shown: a header line, a one-line summary, a transcript of its
/// lines verbatim (raw bytes), JSON. Output is bytes, so lines that are not UTF-8
/// reach the terminal as they stand in the log.
public struct SessionView {
    public let session: Session
    public let sourceName: (UInt32) -> String
    /// The server whose logs hold the session (`IndexReader.server(of:)`).
    public var server: String? = nil
    /// Asked for the session's message trail (`--messages`): its records, or nil if it has
    /// none (`IndexReader.trail(of:)`). Shown only when `withMessages` is set.
    public var trail: Session? = nil
    public var withMessages = false

    public init(session: Session, sourceName: @escaping (UInt32) -> String, server: String? = nil) {
        self.session = session
        self.sourceName = sourceName
        self.server = server
    }

    static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    var peerText: String {
        guard let p = session.facts.peer else { return "?" }
        let a = p.isV4 ? p.description : "[\(p.description)]"
        return session.facts.port.map { "\(a):\($0)" } ?? a
    }

    /// The summary line (`summaryLine()`) as UTF-8 bytes (facts that are not UTF-8 show
    /// U+FFFD), written byte by byte: a transcript's header comes once a session, and
    /// building it from `String`s took a sixth of a long answer's work.
    public func appendSummaryLine(to out: inout [UInt8]) {
        let s = session
        func text(_ b: [UInt8]) {
            if b.allSatisfy({ $0 < 0x80 }) { out += b } else { out += Array(String(decoding: b, as: UTF8.self).utf8) }
        }
        func decimal(_ v: UInt64) { Self.appendDecimal(v, to: &out) }
        func padded(_ v: Int, _ n: Int) {
            var d = 1
            for _ in 1..<n { d *= 10 }
            while d > v, d > 1 { out.append(48); d /= 10 }
            decimal(UInt64(v))
        }
        func list(_ items: [[UInt8]], empty: [UInt8]) {
            if items.isEmpty { out += empty; return }
            for (k, a) in items.enumerated() {
                if k > 0 { out.append(44) }
                text(a)
            }
        }
        let c = s.date.components
        if c.year >= 0, c.year <= 9999 {
            padded(c.year, 4); out.append(45); padded(c.month, 2); out.append(45); padded(c.day, 2)
        } else {
            out += Array(s.date.description.utf8)
        }
        out += Array((s.channel.kind == ChannelKey.smtpi ? " SMTPI-" : " SMTP-").utf8)
        decimal(UInt64(s.lineID))
        out.append(32); text(s.start); out.append(45)
        if let e = s.end { text(e) } else { out.append(63) }
        out.append(32)
        if let p = s.facts.peer {
            if p.isV4 {
                let v = UInt32(truncatingIfNeeded: p.low)
                decimal(UInt64(v >> 24)); out.append(46); decimal(UInt64((v >> 16) & 255)); out.append(46)
                decimal(UInt64((v >> 8) & 255)); out.append(46); decimal(UInt64(v & 255))
            } else {
                out.append(91); out += Array(p.description.utf8); out.append(93)
            }
            if let port = s.facts.port { out.append(58); out += Array(String(port).utf8) }
        } else {
            out.append(63)
        }
        out += Array(" helo=".utf8)
        if let h = s.facts.helo { text(h) } else { out.append(45) }
        out.append(32)
        list(s.facts.from.map { $0.isEmpty ? Array("<>".utf8) : $0 }, empty: [45])
        out += Array(" -> ".utf8)
        list(s.facts.to, empty: [45])
        if !s.facts.rejected.isEmpty { out += Array(" rejected=".utf8); list(s.facts.rejected, empty: []) }
        if !s.facts.messages.isEmpty { out += Array(" msg=".utf8); list(s.facts.messages, empty: []) }
        if let a = s.facts.auth { out += Array(" auth=".utf8); text(a) }
        if s.facts.tls { out += Array(" tls".utf8) }
        if s.facts.outbound { out += Array(" out".utf8) }
        if let server { out += Array(" server=".utf8); text(Array(server.utf8)) }
        if !s.complete { out += Array(" incomplete".utf8) }
    }

    /// `1999-04-28 SMTP-509 21:30:41-21:30:51 209.162.104.65:1957 helo=desk98 emailplus@321media.com -> recipes@hypertouch.com msg=S.0000014724`
    public func summaryLine() -> String {
        var out = [UInt8]()
        appendSummaryLine(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The header line of a transcript.
    public func header() -> String { "== " + summaryLine() }

    /// The transcript: the header, then each line as it stands in the source,
    /// with `file:line-number:` before it when `provenance` is set.
    public func transcript(provenance: Bool) -> String {
        var out = [UInt8]()
        appendTranscript(to: &out, provenance: provenance, offsets: false)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the transcript as raw bytes; `offsets` adds the byte offset
    /// (`file:line-number:byte-offset:`) for evidence.
    /// Appends `v` in decimal.
    @inline(__always)
    static func appendDecimal(_ v: UInt64, to out: inout [UInt8]) {
        var digits: (UInt64, UInt64) = (0, 0)  // up to 20 digits, last first
        var n = 0
        var x = v
        withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[n] = 48 + UInt8(x % 10); x /= 10; n += 1 } while x > 0 && n < 16
            if x > 0 { out += Array(String(x).utf8) }  // beyond 16 digits: the leading ones
            for k in stride(from: n - 1, through: 0, by: -1) { out.append(d[k]) }
        }
    }

    public func appendTranscript(to out: inout [UInt8], provenance: Bool, offsets: Bool) {
        out.reserveCapacity(out.count + session.text.count + session.lines.count * (provenance || offsets ? 48 : 1) + 256)
        out += [61, 61, 32]  // "== "
        appendSummaryLine(to: &out)
        out.append(10)
        appendLines(of: session, to: &out, provenance: provenance, offsets: offsets)
        if withMessages, let trail {
            // `== messages S.0000014724: 4 lines`, then the records about them.
            out += Array("\n== messages ".utf8)
            for (k, m) in session.facts.messages.enumerated() {
                if k > 0 { out.append(44) }
                out += m
            }
            out += Array(": \(trail.lines.count) lines\n".utf8)
            appendLines(of: trail, to: &out, provenance: provenance, offsets: offsets)
        }
    }

    /// The lines of `session` (this one, or its trail), one per output line, without a
    /// newline after the last.
    func appendLines(of session: Session, to out: inout [UInt8], provenance: Bool, offsets: Bool) {
        var lastSource: UInt32 = .max
        var name: [UInt8] = []
        for (i, l) in session.lines.enumerated() {
            // The rest of a line cut at a window's limit goes on the same output line.
            if Self.isPieceOfPrevious(session, i) { out += session.bytes(ofLine: i); continue }
            if i > 0 { out.append(10) }
            if provenance || offsets {
                if l.source != lastSource { name = Array(sourceName(l.source).utf8); lastSource = l.source }
                out += name
                out.append(58)
                Self.appendDecimal(l.lineNumber, to: &out)
                out.append(58)
                if offsets {
                    Self.appendDecimal(l.byteOffset, to: &out)
                    out.append(58)
                }
            }
            out += session.bytes(ofLine: i)
        }
    }

    /// Each line as the log has it, with its first piece's source, number and offset:
    /// the pieces of a line cut at a window's limit joined.
    public func forEachWholeLine(_ body: (SessionLine, ArraySlice<UInt8>) throws -> Void) rethrows {
        try Self.forEachWholeLine(of: session, body)
    }

    /// The same, of `session` (this one or its trail).
    public static func forEachWholeLine(of session: Session, _ body: (SessionLine, ArraySlice<UInt8>) throws -> Void) rethrows {
        var i = 0
        while i < session.lines.count {
            let first = session.lines[i]
            var bytes = session.bytes(ofLine: i)
            i += 1
            while i < session.lines.count, isPieceOfPrevious(session, i) { bytes = ArraySlice(Array(bytes) + session.bytes(ofLine: i)); i += 1 }
            try body(first, bytes)
        }
    }

    /// Line `i` is a later piece of the line before it: a line longer than a window is
    /// cut where the window ends, and its pieces keep the line's number (FORMAT.md, 5).
    static func isPieceOfPrevious(_ session: Session, _ i: Int) -> Bool {
        i > 0 && session.lines[i].lineNumber == session.lines[i - 1].lineNumber
            && session.lines[i].source == session.lines[i - 1].source
    }

    /// One NDJSON object with exactly the keys `date`, `line`, `start`, `end`,
    /// `complete`, `peer`, `port`, `helo`, `from`, `to`, `rejected`, `messages`,
    /// `server`, `direction`, `tls`, `auth`, `source`, `lines`, and with `withMessages`
    /// `messageLines` (the trail's lines, as strings).
    public func json() -> String { String(decoding: jsonBytes(), as: UTF8.self) }

    /// `json()` as UTF-8 bytes, written without a `String` per value.
    public func jsonBytes() -> [UInt8] {
        let s = session
        var o = JSONBytesWriter(capacity: s.text.count + 4 * s.lines.count + 512)
        o.string("date", s.date.description)
        o.int("line", Int(s.lineID))
        o.string("start", bytes: s.start)
        o.optionalString("end", bytes: s.end)
        o.bool("complete", s.complete)
        o.optionalString("peer", s.facts.peer?.description)
        o.optionalInt("port", s.facts.port)
        o.optionalString("helo", bytes: s.facts.helo)
        o.strings("from", bytes: s.facts.from)
        o.strings("to", bytes: s.facts.to)
        o.strings("rejected", bytes: s.facts.rejected)
        o.strings("messages", bytes: s.facts.messages)
        o.optionalString("server", server)
        o.string("direction", s.facts.direction)
        o.bool("tls", s.facts.tls)
        o.optionalString("auth", bytes: s.facts.auth)
        var src = JSONBytesWriter()
        if let first = s.lines.first, let last = s.lines.last {
            src.string("file", sourceName(first.source))
            src.uint("firstLine", first.lineNumber)
            src.uint("lastLine", last.lineNumber)
        } else {
            src.optionalString("file", nil)
            src.optionalInt("firstLine", nil)
            src.optionalInt("lastLine", nil)
        }
        o.raw("source", src.finish())
        var lines = [UInt8]()
        lines.reserveCapacity(s.text.count + 4 * s.lines.count + 2)
        lines.append(91)  // [
        forEachWholeLine { _, bytes in
            if lines.count > 1 { lines.append(44) }
            JSONBytesWriter.appendQuoted(bytes, to: &lines)
        }
        lines.append(93)  // ]
        o.raw("lines", lines)
        if withMessages { o.raw("messageLines", Self.jsonLines(trail)) }
        return o.finish()
    }

    /// A session's (or trail's) whole lines as a JSON array of strings.
    static func jsonLines(_ session: Session?) -> [UInt8] {
        guard let session else { return [91, 93] }
        var lines = [UInt8]()
        lines.reserveCapacity(session.text.count + 4 * session.lines.count + 2)
        lines.append(91)
        forEachWholeLine(of: session) { _, bytes in
            if lines.count > 1 { lines.append(44) }
            JSONBytesWriter.appendQuoted(bytes, to: &lines)
        }
        lines.append(93)
        return lines
    }
}

extension IndexReader {
    /// A session as a front shows it: with its server, and with `messages` its trail
    /// (`trail(of:)`, with byte offsets when `resolvingOffsets`; `trailRows` keeps the
    /// message-record rows decoded for the next session's trail).
    public func view(of session: Session, messages: Bool, trailRows: TrailRows? = nil, resolvingOffsets: Bool = true,
                     caching: Bool = true) throws -> SessionView {
        var view = SessionView(session: session, sourceName: { self.sourceName($0) }, server: server(of: session))
        if messages {
            view.withMessages = true
            view.trail = try trail(of: session, rows: trailRows, resolvingOffsets: resolvingOffsets, caching: caching)
        }
        return view
    }
}
