import MaildexSupport
import MaildexParse
import MaildexRead

/// The rules for records about messages that belong to no session (message trails,
/// FORMAT.md §11): which records they are, which message each is about.
extension SessionRules {
    /// The message a record of no session is about, and its trail's key: CommuniGate
    /// `QUEUE([id]) ...` (the id as the context), `DEQUEUER [id] ...`, `DEQUEUER-N [id]`,
    /// `SMTP(domain) [id] ...`, `LOCAL-N(addr) [id] ...`, `EXTFILTER(...) [id] ...`;
    /// Stalker `SYSTEM [S.N] ...`, `SYSTEM(POP) [S.N] ...`. The data begins with the
    /// bracketed id and a space (or ends there). Nil for anything else.
    @inline(__always)
    package static func trail(_ p: UnsafeRawBufferPointer, _ h: RecordHeader) -> (key: ChannelKey, id: Range<Int>)? {
        if let c = h.context, c.count > 2, p[c.lowerBound] == UInt8(ascii: "["), p[c.upperBound - 1] == UInt8(ascii: "]"),
           let t = trailID(p, (c.lowerBound + 1)..<(c.upperBound - 1)) {
            return t
        }
        let d = h.data
        guard d.count > 2, p[d.lowerBound] == UInt8(ascii: "[") else { return nil }
        var j = d.lowerBound + 1
        while j < d.upperBound, j - d.lowerBound <= 24, p[j] != UInt8(ascii: "]") { j += 1 }
        guard j < d.upperBound, p[j] == UInt8(ascii: "]"), j + 1 == d.upperBound || p[j + 1] == 32 else { return nil }
        return trailID(p, (d.lowerBound + 1)..<j)
    }

    /// For each line of message records (a trail), the key of the message it is about:
    /// its record's (a continuation line, the record's above it); nil before the first record.
    package static func messageKeys(of records: Session) -> [UInt64?] {
        var out = [UInt64?]()
        out.reserveCapacity(records.lines.count)
        var current: UInt64? = nil
        records.text.withUnsafeBytes { t in
            for (i, l) in records.lines.enumerated() {
                // A later piece of a line cut at a window's limit is never a record.
                let piece = i > 0 && l.lineNumber == records.lines[i - 1].lineNumber && l.source == records.lines[i - 1].source
                let line = UnsafeRawBufferPointer(rebasing: t[Int(l.textOffset)..<Int(l.textOffset + l.length)])
                if !piece, let h = RecordParser.parse(line, 0, line.count) { current = trail(line, h)?.key.raw }
                out.append(current)
            }
        }
        return out
    }

    /// The key a message id has in `messageKeys` (`193024360`, `S.0000014724`), if it is one.
    package static func messageKey(_ id: [UInt8]) -> UInt64? {
        id.withUnsafeBytes { trailID($0, 0..<$0.count)?.key.raw }
    }

    /// `193024360` or `S.0000014724`: the key of its trail, and the id's bytes.
    @inline(__always)
    static func trailID(_ p: UnsafeRawBufferPointer, _ r: Range<Int>) -> (key: ChannelKey, id: Range<Int>)? {
        var s = r.lowerBound
        var kind = ChannelKey.queueTrail
        if r.count > 2, p[s] == UInt8(ascii: "S"), p[s + 1] == UInt8(ascii: ".") { s += 2; kind = ChannelKey.stalkerTrail }
        guard r.upperBound > s, r.upperBound - s <= 16 else { return nil }
        var v: UInt64 = 0
        for i in s..<r.upperBound {
            guard RecordParser.isDigit(p[i]) else { return nil }
            v = v * 10 + UInt64(p[i] - 48)
        }
        guard let key = ChannelKey.trail(kind, v) else { return nil }
        return (key, r)
    }

    /// A decimal number filling `p[s..<e]` (at most 9 digits).
    @inline(__always)
    package static func number(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int) -> UInt32? {
        guard e > s, e - s <= 9 else { return nil }
        var v: UInt32 = 0
        for i in s..<e {
            let c = p[i]
            guard RecordParser.isDigit(c) else { return nil }
            v = v * 10 + UInt32(c - 48)
        }
        return v
    }
}
