/// How a session is shown: a header line, a one-line summary, a transcript of its
/// lines verbatim (raw bytes), JSON. Output is bytes, so lines that are not UTF-8
/// reach the terminal as they stand in the log.
public struct SessionView {
    public let session: Session
    public let sourceName: (UInt32) -> String

    public init(session: Session, sourceName: @escaping (UInt32) -> String) {
        self.session = session
        self.sourceName = sourceName
    }

    static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    var peerText: String {
        guard let p = session.facts.peer else { return "?" }
        let a = p.isV4 ? p.description : "[\(p.description)]"
        return session.facts.port.map { "\(a):\($0)" } ?? a
    }

    /// `1999-04-28 SMTP-509 21:30:41-21:30:51 209.162.104.65:1957 desk98 emailplus@321media.com -> recipes@hypertouch.com S.0000014724`
    public func summaryLine() -> String {
        let s = session
        var parts = [s.date.description,
                     (s.channel.kind == ChannelKey.smtpi ? "SMTPI-" : "SMTP-") + String(s.lineID),
                     Self.text(s.start) + "-" + (s.end.map(Self.text) ?? "?"),
                     peerText]
        parts.append("helo=" + (s.facts.helo.map(Self.text) ?? "-"))
        let from = s.facts.from.map { $0.isEmpty ? "<>" : Self.text($0) }
        parts.append((from.isEmpty ? "-" : from.joined(separator: ",")) + " -> "
                     + (s.facts.to.isEmpty ? "-" : s.facts.to.map(Self.text).joined(separator: ",")))
        if !s.facts.rejected.isEmpty { parts.append("rejected=" + s.facts.rejected.map(Self.text).joined(separator: ",")) }
        if !s.facts.messages.isEmpty { parts.append("msg=" + s.facts.messages.map(Self.text).joined(separator: ",")) }
        if let a = s.facts.auth { parts.append("auth=" + Self.text(a)) }
        if s.facts.tls { parts.append("tls") }
        if !s.complete { parts.append("incomplete") }
        return parts.joined(separator: " ")
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
    public func appendTranscript(to out: inout [UInt8], provenance: Bool, offsets: Bool) {
        out += Array(header().utf8)
        out.append(10)
        var lastSource: UInt32 = .max
        var name: [UInt8] = []
        for (i, l) in session.lines.enumerated() {
            // The rest of a line cut at a window's limit goes on the same output line.
            if isPieceOfPrevious(i) { out += session.bytes(ofLine: i); continue }
            if i > 0 { out.append(10) }
            if provenance || offsets {
                if l.source != lastSource { name = Array(sourceName(l.source).utf8); lastSource = l.source }
                out += name
                out.append(58)
                out += Array(String(l.lineNumber).utf8)
                out.append(58)
                if offsets {
                    out += Array(String(l.byteOffset).utf8)
                    out.append(58)
                }
            }
            out += session.bytes(ofLine: i)
        }
    }

    /// Line `i` is a later piece of the line before it: a line longer than a window is
    /// cut where the window ends, and its pieces keep the line's number (FORMAT.md, 5).
    func isPieceOfPrevious(_ i: Int) -> Bool {
        i > 0 && session.lines[i].lineNumber == session.lines[i - 1].lineNumber
            && session.lines[i].source == session.lines[i - 1].source
    }

    /// One NDJSON object with exactly the keys `date`, `line`, `start`, `end`,
    /// `complete`, `peer`, `port`, `helo`, `from`, `to`, `rejected`, `messages`,
    /// `source`, `lines`.
    public func json() -> String {
        let s = session
        var o = JSONObjectWriter()
        o.string("date", s.date.description)
        o.int("line", Int(s.lineID))
        o.string("start", Self.text(s.start))
        o.optionalString("end", s.end.map(Self.text))
        o.bool("complete", s.complete)
        o.optionalString("peer", s.facts.peer?.description)
        o.optionalInt("port", s.facts.port)
        o.optionalString("helo", s.facts.helo.map(Self.text))
        o.strings("from", s.facts.from.map(Self.text))
        o.strings("to", s.facts.to.map(Self.text))
        o.strings("rejected", s.facts.rejected.map(Self.text))
        o.strings("messages", s.facts.messages.map(Self.text))
        var src = JSONObjectWriter()
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
        var i = 0
        while i < s.lines.count {
            if i > 0 { lines.append(44) }
            var bytes = s.bytes(ofLine: i)
            i += 1
            // Pieces of a line cut at a window's limit are one line.
            while i < s.lines.count, isPieceOfPrevious(i) { bytes = ArraySlice(Array(bytes) + s.bytes(ofLine: i)); i += 1 }
            if !JSONObjectWriter.appendQuotedASCII(bytes, to: &lines) {
                lines.append(contentsOf: JSONObjectWriter.quote(bytes: bytes).utf8)
            }
        }
        lines.append(93)  // ]
        o.raw("lines", String(decoding: lines, as: UTF8.self))
        return o.finish()
    }
}
