#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead

/// The rules that tie records to SMTP sessions, and what each record tells
/// about its session. One place for both dialects.
///
/// Stalker: `SMTP-N(...)`, `SMTP(N)`, `SMTP Line N created ...`, `SMTP disposing line N`;
/// a session opens with `Stream Created` and closes with `Stream Disposed`.
/// CommuniGate Pro: `SMTPI-N(...)` (inbound) and `SMTP-N(...)`; a session opens with
/// `connected from [ip]:port` and closes with `releasing stream`.
package enum SessionRules {
    enum Marker { case none, opens, closes }

    /// The channel a record belongs to, or nil when it belongs to no SMTP session
    /// (`SMTP(tcp) ...`, `SYSTEM`, `QUEUE`, other components).
    @inline(__always)
    static func channel(_ p: UnsafeRawBufferPointer, _ h: RecordHeader) -> (ChannelKey, Marker)? {
        let tag = h.tag
        if tag.count == 4, Bytes.hasPrefix(p, tag, "SMTP") {
            if h.id >= 0 {
                return (ChannelKey(kind: ChannelKey.smtp, id: UInt32(h.id)), marker(p, h.data))
            }
            if let ctx = h.context {
                guard let n = number(p, ctx.lowerBound, ctx.upperBound) else { return nil }
                return (ChannelKey(kind: ChannelKey.smtp, id: n), .none)
            }
            let d = h.data
            if Bytes.hasPrefix(p, d, "Line ") {
                var j = d.lowerBound + 5
                let s = j
                while j < d.upperBound, RecordParser.isDigit(p[j]) { j += 1 }
                guard j > s, Bytes.hasPrefix(p, j..<d.upperBound, " created"), let n = number(p, s, j) else { return nil }
                return (ChannelKey(kind: ChannelKey.smtp, id: n), .none)
            }
            if Bytes.hasPrefix(p, d, "disposing line ") {
                let s = d.lowerBound + 15
                var j = s
                while j < d.upperBound, RecordParser.isDigit(p[j]) { j += 1 }
                guard j > s, let n = number(p, s, j) else { return nil }
                return (ChannelKey(kind: ChannelKey.smtp, id: n), .none)
            }
            return nil
        }
        if tag.count == 5, h.id >= 0, Bytes.hasPrefix(p, tag, "SMTPI") {
            return (ChannelKey(kind: ChannelKey.smtpi, id: UInt32(h.id)), marker(p, h.data))
        }
        return nil
    }

    @inline(__always)
    static func marker(_ p: UnsafeRawBufferPointer, _ d: Range<Int>) -> Marker {
        guard let first = d.first.map({ p[$0] }) else { return .none }
        switch first {
        case UInt8(ascii: "S"):
            if Bytes.equals(p, d, "Stream Created") { return .opens }
            if Bytes.hasPrefix(p, d, "Stream Disposed") { return .closes }
        case UInt8(ascii: "c"):
            if Bytes.hasPrefix(p, d, "connected from ") { return .opens }
            if Bytes.hasPrefix(p, d, "closing connection") { return .closes }
        case UInt8(ascii: "r"):
            if Bytes.hasPrefix(p, d, "releasing stream") { return .closes }
        case UInt8(ascii: "["):
            // `[10.0.0.5]:25 <- [192.0.2.7]:51234 incoming connection`
            if Bytes.hasSuffix(p, d, "incoming connection"), incoming(p, d) != nil { return .opens }
        default: break
        }
        return .none
    }

    /// Where the peer's `[address]` starts in `[local]:port <- [peer]:port ...`.
    static func incoming(_ p: UnsafeRawBufferPointer, _ d: Range<Int>) -> Int? {
        var j = d.lowerBound
        while j + 4 < d.upperBound {
            if p[j] == 32, p[j + 1] == UInt8(ascii: "<"), p[j + 2] == UInt8(ascii: "-"), p[j + 3] == 32 { return j + 4 }
            j += 1
        }
        return nil
    }

    /// Reads what the record says about its session into the fragment.
    @inline(__always)
    static func observe(_ p: UnsafeRawBufferPointer, _ h: RecordHeader, _ f: Fragment) {
        let d = h.data
        // CommuniGate's outbound channels share the tag `SMTP` with Stalker's inbound
        // ones; they show themselves by CommuniGate's forms (a time with a fraction, a
        // `cmd:`/`rsp:` record, a queue id).
        if f.key.kind == ChannelKey.smtp, !f.facts.outbound {
            if h.time.count > 8 || (d.count > 4 && (Bytes.hasPrefix(p, d, "cmd: ") || Bytes.hasPrefix(p, d, "rsp: ") || p[d.lowerBound] == UInt8(ascii: "["))) {
                f.facts.outbound = true
            }
        }
        if d.count > 4 {
            let s = d.lowerBound, e = d.upperBound
            switch p[s] {
            case UInt8(ascii: "G"):
                if Bytes.hasPrefix(p, d, "Got connection from ") { peer(p, s + 20, e, f) }
            case UInt8(ascii: "c"):
                if Bytes.hasPrefix(p, d, "cmd: ") { command(p, s + 5, e, f) }
                else if Bytes.hasPrefix(p, d, "connected from ") { peer(p, s + 15, e, f) }
            case UInt8(ascii: "I"):
                if Bytes.hasPrefix(p, d, "Input Line: ") { command(p, s + 12, e, f) }
            case UInt8(ascii: "S"):
                if Bytes.hasPrefix(p, d, "Sending ") { response(p, s + 8, e, f) }
            case UInt8(ascii: "r"):
                if Bytes.hasPrefix(p, d, "rsp: ") { response(p, s + 5, e, f) }
            case UInt8(ascii: "{"):
                // {S.0000014724} received, 1199 bytes
                var j = s + 1
                while j < e, p[j] != UInt8(ascii: "}") { j += 1 }
                if j < e, j > s + 1, Bytes.hasPrefix(p, (j + 1)..<e, " received") {
                    message(p, (s + 1)..<j, f)
                    f.facts.accepted = true
                }
            case UInt8(ascii: "["):
                if Bytes.hasSuffix(p, d, "incoming connection"), let at = incoming(p, d) {
                    // [10.0.0.5]:25 <- [192.0.2.7]:51234 incoming connection
                    peer(p, at, e, f)
                    break
                }
                // [193024360] received[ encrypted][(account NAME)], 15020 bytes
                // [113457753] sent [local]:port -> [remote]:25, got:250 ...
                // [192961680] reenqueueing addresses with temporary failure
                var j = s + 1
                while j < e, RecordParser.isDigit(p[j]) { j += 1 }
                guard j > s + 1, j < e, p[j] == UInt8(ascii: "]"), j + 1 == e || p[j + 1] == 32 else { break }
                message(p, (s + 1)..<j, f)
                let rest = (j + 1)..<e
                if Bytes.hasPrefix(p, rest, " received") {
                    f.facts.accepted = true
                    var k = j + 10  // past "] received"
                    if Bytes.hasPrefix(p, k..<e, " encrypted") { f.facts.tls = true; k += 10 }
                    if Bytes.hasPrefix(p, k..<e, "(account ") {
                        let a = k + 9
                        var z = a
                        while z < e, p[z] != UInt8(ascii: ")"), p[z] != 32 { z += 1 }
                        if z < e, p[z] == UInt8(ascii: ")"), z > a, f.facts.auth == nil { f.facts.auth = address(p, a, z) }
                    }
                } else if Bytes.hasPrefix(p, rest, " sent ") {
                    sent(p, j + 7, e, f)
                }
            case UInt8(ascii: "a"):
                if Bytes.hasPrefix(p, d, "authenticated as "), f.facts.auth == nil {
                    var j = s + 17
                    while j < e, p[j] != 32 { j += 1 }
                    if j > s + 17 { f.facts.auth = address(p, s + 17, j) }
                }
            default: break
            }
        }
        if let ctx = h.context, ctx.count > 0 {
            if p[ctx.lowerBound] == UInt8(ascii: "[") {
                if f.facts.peer == nil, ctx.count > 2, p[ctx.upperBound - 1] == UInt8(ascii: "]") {
                    f.facts.peer = IPAddress.parse(p, ctx.lowerBound + 1, ctx.upperBound - 1)
                }
            } else if let (a, port) = addressAndPort(p, ctx) {
                // An outbound channel's relay, `(193.95.123.24:25)`.
                if f.facts.peer == nil { f.facts.peer = a; f.facts.port = port }
            } else if f.key.kind == ChannelKey.smtpi, f.facts.helo == nil, ctx.count > 0, !(ctx.count == 1 && p[ctx.lowerBound] == UInt8(ascii: "*")),
                      memchr(p.baseAddress! + ctx.lowerBound, Int32(UInt8(ascii: "@")), ctx.count) == nil {
                // After HELO, CommuniGate names an inbound channel by the HELO name
                // (`SMTPI-247659(gold.irrsel.com)`): the name, when no command gave it.
                f.facts.helo = Array(p[ctx])
                f.heloFromContext = true
            }
        }
    }

    /// A message id of the session, once (records repeat it).
    @inline(__always)
    static func message(_ p: UnsafeRawBufferPointer, _ r: Range<Int>, _ f: Fragment) {
        if let last = f.facts.messages.last, Bytes.equals(p, r, last) { return }
        f.facts.messages.append(Array(p[r]))
    }

    /// `[local]:port -> [remote]:25, got:250 ...` after `[id] sent `: the remote host is the
    /// peer; a 2xx reply means the message was taken.
    static func sent(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ f: Fragment) {
        var j = s
        while j + 4 < e {
            if p[j] == 32, p[j + 1] == UInt8(ascii: "-"), p[j + 2] == UInt8(ascii: ">"), p[j + 3] == 32 { break }
            j += 1
        }
        guard j + 4 < e else { return }
        let remote = j + 4
        if let (a, port) = bracketed(p, remote, e) {
            // The address the message went to wins over a relay named in the context.
            f.facts.peer = a; f.facts.port = port
        }
        var k = remote
        while k + 4 < e, !(p[k] == UInt8(ascii: "g") && p[k + 1] == UInt8(ascii: "o") && p[k + 2] == UInt8(ascii: "t") && p[k + 3] == UInt8(ascii: ":")) { k += 1 }
        if k + 4 < e, p[k + 4] == UInt8(ascii: "2") { f.facts.accepted = true }
    }

    /// `[address]:port` or `[address]` at `s`.
    static func bracketed(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int) -> (IPAddress, Int?)? {
        guard s < e, p[s] == UInt8(ascii: "[") else { return nil }
        var q = s + 1
        while q < e, p[q] != UInt8(ascii: "]") { q += 1 }
        guard q < e, let a = IPAddress.parse(p, s + 1, q) else { return nil }
        var port: Int? = nil
        if q + 1 < e, p[q + 1] == UInt8(ascii: ":") {
            var j = q + 2, v = 0
            while j < e, RecordParser.isDigit(p[j]), v < 100_000 { v = v * 10 + Int(p[j] - 48); j += 1 }
            if j > q + 2 { port = v }
        }
        return (a, port)
    }

    /// An IPv4 address and a port without brackets, `193.95.123.24:25`, filling `r`.
    static func addressAndPort(_ p: UnsafeRawBufferPointer, _ r: Range<Int>) -> (IPAddress, Int)? {
        var colon = -1
        for i in r {
            let c = p[i]
            if c == UInt8(ascii: ":") { guard colon < 0 else { return nil }; colon = i }
            else if !(RecordParser.isDigit(c) || c == UInt8(ascii: ".")) { return nil }
        }
        guard colon > r.lowerBound, colon + 1 < r.upperBound, r.upperBound - colon <= 6,
              let a = IPAddress.parse(p, r.lowerBound, colon), a.isV4 else { return nil }
        var v = 0
        for i in (colon + 1)..<r.upperBound { v = v * 10 + Int(p[i] - 48) }
        return (a, v)
    }

    /// `[1.2.3.4:1957]`, `[1.2.3.4]:1957`, `[2001:db8::1]:25`, `[2001:db8::1]`.
    static func peer(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ f: Fragment) {
        guard f.facts.peer == nil, s < e, p[s] == UInt8(ascii: "[") else { return }
        var q = s + 1
        while q < e, p[q] != UInt8(ascii: "]") { q += 1 }
        guard q < e else { return }
        let inner = (s + 1)..<q
        var port: Int? = nil
        var addressEnd = q
        if q + 1 < e, p[q + 1] == UInt8(ascii: ":") {
            var j = q + 2, v = 0
            while j < e, RecordParser.isDigit(p[j]), v < 100_000 { v = v * 10 + Int(p[j] - 48); j += 1 }
            if j > q + 2 { port = v }
        } else {
            var colons = 0, lastColon = -1, dots = false
            for i in inner {
                if p[i] == UInt8(ascii: ":") { colons += 1; lastColon = i }
                if p[i] == UInt8(ascii: ".") { dots = true }
            }
            if colons == 1, dots {
                var v = 0, ok = lastColon + 1 < q
                for i in (lastColon + 1)..<q {
                    guard RecordParser.isDigit(p[i]), v < 100_000 else { ok = false; break }
                    v = v * 10 + Int(p[i] - 48)
                }
                if ok { port = v; addressEnd = lastColon }
            }
        }
        if let a = IPAddress.parse(p, inner.lowerBound, addressEnd) {
            f.facts.peer = a
            f.facts.port = port
        }
    }

    static func command(_ p: UnsafeRawBufferPointer, _ s: Int, _ end: Int, _ f: Fragment) {
        var e = end
        // Drop trailing spaces and the escaped `\r` the server writes.
        while e > s {
            if p[e - 1] == 32 { e -= 1; continue }
            if e - s >= 2, p[e - 2] == UInt8(ascii: "\\"), p[e - 1] == UInt8(ascii: "r") { e -= 2; continue }
            break
        }
        f.sawCommand = true
        if Bytes.hasPrefixCI(p, s, e, "HELO") || Bytes.hasPrefixCI(p, s, e, "EHLO") {
            if s + 4 == e || p[s + 4] == 32 {
                var j = s + 4
                while j < e, p[j] == 32 { j += 1 }
                var k = j
                while k < e, p[k] != 32 { k += 1 }
                if f.facts.helo == nil || f.heloFromContext, k > j { f.facts.helo = Array(p[j..<k]); f.heloFromContext = false }
                f.pending = .other
                return
            }
        }
        if Bytes.hasPrefixCI(p, s, e, "MAIL") {
            var j = s + 4
            while j < e, p[j] == 32 { j += 1 }
            if Bytes.hasPrefixCI(p, j, e, "FROM:") { f.pending = .mail(address(p, j + 5, e)); return }
        } else if Bytes.hasPrefixCI(p, s, e, "RCPT") {
            var j = s + 4
            while j < e, p[j] == 32 { j += 1 }
            if Bytes.hasPrefixCI(p, j, e, "TO:") { f.pending = .rcpt(address(p, j + 3, e)); return }
        } else if Bytes.hasPrefixCI(p, s, e, "STARTTLS") {
            f.pending = .startTLS; return
        } else if Bytes.hasPrefixCI(p, s, e, "AUTH "), let account = authAccount(p, s + 5, e) {
            f.pending = .auth(account); return
        }
        f.pending = .other
    }

    /// The address after `FROM:`/`TO:`: inside `<...>` if present, else up to a space;
    /// spaces dropped, ASCII lowercased. `<>` gives the empty (null) address.
    static func address(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int) -> [UInt8] {
        var j = s
        while j < e, p[j] == 32 { j += 1 }
        // The span first, then one allocation of the size it needs (appending byte by
        // byte grew the array three times for a typical address).
        var end = j, spaces = 0
        if j < e, p[j] == UInt8(ascii: "<") {
            j += 1
            end = j
            while end < e, p[end] != UInt8(ascii: ">") { if p[end] == 32 { spaces += 1 }; end += 1 }
        } else {
            while end < e, p[end] != 32 { end += 1 }
        }
        let count = end - j - spaces
        guard count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { out, filled in
            var k = 0
            for i in j..<end where p[i] != 32 {
                out[k] = Bytes.lower(p[i])
                k += 1
            }
            filled = k
        }
    }

    /// The account of `AUTH PLAIN <base64>` (authzid NUL authcid NUL password: the
    /// authcid) or `AUTH LOGIN <base64>` (the user name), lowercased; nil for other
    /// mechanisms, no initial response, or one that is not base64.
    static func authAccount(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int) -> [UInt8]? {
        var j = s
        while j < e, p[j] == 32 { j += 1 }
        let plain = Bytes.hasPrefixCI(p, j, e, "PLAIN "), login = Bytes.hasPrefixCI(p, j, e, "LOGIN ")
        guard plain || login else { return nil }
        j += 6
        while j < e, p[j] == 32 { j += 1 }
        var k = j
        while k < e, p[k] != 32 { k += 1 }
        guard let decoded = base64(p, j, k) else { return nil }
        let field: ArraySlice<UInt8>
        if plain {
            let parts = decoded.split(separator: 0, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            field = parts[1]
        } else {
            field = decoded[...]
        }
        guard !field.isEmpty, field.count <= 256, !field.contains(where: { $0 < 33 }) else { return nil }
        return field.map(Bytes.lower)
    }

    /// Standard base64 (padding optional), or nil.
    static func base64(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int) -> [UInt8]? {
        guard e > s, e - s <= 1024 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity((e - s) * 3 / 4)
        var acc: UInt32 = 0, bits = 0
        for i in s..<e {
            let c = p[i]
            let v: UInt32
            switch c {
            case 65...90: v = UInt32(c - 65)
            case 97...122: v = UInt32(c - 71)
            case 48...57: v = UInt32(c + 4)
            case 43: v = 62
            case 47: v = 63
            case 61: continue
            default: return nil
            }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 { bits -= 8; out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits))) }
        }
        return out
    }

    static func response(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ f: Fragment) {
        guard e - s >= 3, RecordParser.isDigit(p[s]), RecordParser.isDigit(p[s + 1]), RecordParser.isDigit(p[s + 2])
        else { return }
        let code = Int(p[s] - 48) * 100 + Int(p[s + 1] - 48) * 10 + Int(p[s + 2] - 48)
        if let pending = f.pending {
            apply(pending, code, &f.facts)
            f.pending = nil
        } else if !f.sawCommand, f.leadingResponse < 0 {
            f.leadingResponse = code
        }
    }

    static func apply(_ pending: PendingCommand, _ code: Int, _ facts: inout SessionFacts) {
        switch pending {
        case .mail(let a): if (200..<300).contains(code) { facts.from.append(a) }
        case .rcpt(let a):
            if (200..<300).contains(code) { facts.to.append(a) }
            else if (400..<600).contains(code) { facts.rejected.append(a) }
        case .startTLS: if (200..<300).contains(code) { facts.tls = true }
        case .auth(let a): if (200..<300).contains(code), facts.auth == nil { facts.auth = a }
        case .other: break
        }
    }

    /// A session's facts, and the times of its first and last records, read again
    /// from its lines (the store keeps only the lines). Every record of a session
    /// belongs to its channel, and reading them in one pass gives what joining the
    /// facts of its fragments gave.
    package static func reread(text: [UInt8], lines: [SessionLine], channel: ChannelKey) -> (facts: SessionFacts, start: [UInt8], last: [UInt8]) {
        let f = Fragment(key: channel)
        // The timestamps of the first and last records, as ranges of `text`.
        var start: Range<Int>? = nil, last: Range<Int>? = nil
        var seenIDs = Set<UInt64>()
        text.withUnsafeBytes { t in
            for (i, l) in lines.enumerated() {
                // A later piece of a line cut at a window's limit is never a record, as
                // when it was indexed, whatever it looks like.
                if i > 0, l.lineNumber == lines[i - 1].lineNumber, l.source == lines[i - 1].source { continue }
                let line = UnsafeRawBufferPointer(rebasing: t[Int(l.textOffset)..<Int(l.textOffset + l.length)])
                guard let h = RecordParser.parse(line, 0, line.count) else { continue }
                let time = (Int(l.textOffset) + h.time.lowerBound)..<(Int(l.textOffset) + h.time.upperBound)
                if start == nil { start = time }
                last = time
                if channel.isTrail {
                    // Message records' one fact: the ids of their messages, each as its first
                    // record writes it, in order.
                    if let t = trail(line, h), !seenIDs.contains(t.key.raw) {
                        seenIDs.insert(t.key.raw)
                        f.facts.messages.append(Array(line[t.id]))
                    }
                } else {
                    observe(line, h, f)
                }
            }
        }
        return (f.facts, start.map { Array(text[$0]) } ?? [], last.map { Array(text[$0]) } ?? [])
    }
}
