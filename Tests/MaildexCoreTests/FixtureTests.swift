import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

@Suite struct FixtureTests {
    /// Lines of a fixture that are records (begin with a timestamp) and those that are not.
    func split(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        if lines.last == [] { lines.removeLast() }
        return lines
    }

    @Test(arguments: ["1999-04-28.log", "1999-04-29.log"])
    func everyRecordParses(name: String) throws {
        let bytes = try TestData.fixture(name)
        var continuations = 0
        for line in split(bytes) {
            let first = line.first ?? 0
            let header = line.withUnsafeBytes { RecordParser.parse($0, 0, $0.count) }
            if first >= 48 && first <= 57 && line.count > 8 && line[2] == 58 {
                let h = try #require(header, "record did not parse: \(String(bytes: line))")
                #expect(h.level >= 2 && h.level <= 5)
                let tag = String(bytes: line[h.tag])
                #expect(["SMTP", "SYSTEM"].contains(tag), "tag \(tag)")
            } else {
                #expect(header == nil)
                continuations += 1
            }
        }
        let (_, counts) = Sessionizer.sessions(of: bytes, date: CivilDate(iso: "1999-04-28")!)
        #expect(counts.records == UInt64(split(bytes).count - continuations))
        #expect(counts.unparsed == 0)
    }

    @Test func headerFieldsOfStalkerRecords() throws {
        let line = Array("21:30:43 4 SMTP-509(desk98) Sending 250 209.31.44.214 cannot verify desk98\\r\\n".utf8)
        let h = try #require(line.withUnsafeBytes { RecordParser.parse($0, 0, $0.count) })
        #expect(String(bytes: line[h.time]) == "21:30:43")
        #expect(h.secondOfDay == 21 * 3600 + 30 * 60 + 43)
        #expect(h.level == 4)
        #expect(String(bytes: line[h.tag]) == "SMTP")
        #expect(h.id == 509)
        #expect(String(bytes: line[try #require(h.context)]) == "desk98")
        #expect(String(bytes: line[h.data]).hasPrefix("Sending 250"))
    }

    @Test func headerFieldsOfCommuniGateRecords() throws {
        let cases: [(String, String, Int32, String?, String)] = [
            ("23:27:09.336 2 SMTPI-247659(gold.irrsel.com) [193024360] received, 15020 bytes", "SMTPI", 247659, "gold.irrsel.com", "[193024360] received, 15020 bytes"),
            ("21:10:26.000 2 SMTPI-882907([52.101.126.128]) [189324211] received encrypted, 17416 bytes", "SMTPI", 882907, "[52.101.126.128]", "[189324211] received encrypted, 17416 bytes"),
            ("23:27:09.337 2 QUEUE([193024360]) from <someone@example.com>, 15020 bytes (<msgid@host>)", "QUEUE", -1, "[193024360]", "from <someone@example.com>, 15020 bytes (<msgid@host>)"),
            ("00:00:00.067 2 DEQUEUER [1846258457] delivered: Delivered to the user mailbox", "DEQUEUER", -1, nil, "[1846258457] delivered: Delivered to the user mailbox"),
            ("00:08:20.111 4 SMTP-004929(example.fr) cmd: QUIT", "SMTP", 4929, "example.fr", "cmd: QUIT"),
            ("10:00:00.5 4 HTTPU([10.10.0.83]:47320) GET /", "HTTPU", -1, "[10.10.0.83]:47320", "GET /"),
            ("10:00:00.123456 5 SMTPI-000001([2001:db8::1]) rsp: 220 ok\r", "SMTPI", 1, "[2001:db8::1]", "rsp: 220 ok"),
        ]
        for (text, tag, id, context, data) in cases {
            let line = Array(text.utf8)
            let h = try #require(line.withUnsafeBytes { RecordParser.parse($0, 0, $0.count) }, "\(text)")
            #expect(String(bytes: line[h.tag]) == tag, "\(text)")
            #expect(h.id == id, "\(text)")
            #expect(h.context.map { String(bytes: line[$0]) } == context, "\(text)")
            #expect(String(bytes: line[h.data]) == data, "\(text)")
        }
    }

    @Test func aContextEndsAtTheFirstParenthesisBeforeASpaceOrTheLineEnd() throws {
        let cases: [(String, String?, String)] = [
            ("00:00:01 5 SMTP-1(a)b) x", "a)b", "x"), ("00:00:02 5 SMTP-2(a) b) y", "a", "b) y"),
            ("00:00:03 5 SMTP-3(a)", "a", ""), ("00:00:04 5 SMTP-4(", nil, "("), ("00:00:05 5 SMTP-5()", "", ""),
            ("00:00:06 5 SMTP-6(x))", "x)", ""), ("00:00:07 5 SMTP-7(x)) z", "x)", "z"),
            ("00:00:08 5 SMTP-8([1.2.3.4]) rsp: 250 ok)", "[1.2.3.4]", "rsp: 250 ok)"),
        ]
        for (text, context, data) in cases {
            let line = Array(text.utf8)
            let h = try #require(line.withUnsafeBytes { RecordParser.parse($0, 0, line.count) })
            #expect(h.context.map { String(bytes: line[$0]) } == context, "\(text)")
            #expect(String(bytes: line[h.data]) == data, "\(text)")
        }
    }

    @Test func session509() throws {
        let bytes = try TestData.fixture("1999-04-28.log")
        let (sessions, _) = Sessionizer.sessions(of: bytes, date: CivilDate(iso: "1999-04-28")!)
        #expect(sessions.count == 1)
        let s = try #require(sessions.first)
        #expect(s.lineID == 509)
        #expect(s.date.description == "1999-04-28")
        #expect(s.facts.peer == IPAddress("209.162.104.65"))
        #expect(s.facts.port == 1957)
        #expect(s.facts.helo.map { String(bytes: $0) } == "desk98")
        #expect(s.facts.from.map { String(bytes: $0) } == ["emailplus@321media.com"])
        #expect(s.facts.to.map { String(bytes: $0) } == ["recipes@hypertouch.com"])
        #expect(s.facts.rejected.isEmpty)
        #expect(s.facts.messages.map { String(bytes: $0) } == ["S.0000014724"])
        #expect(s.complete)
        #expect(String(bytes: s.start) == "21:30:41")
        #expect(s.end.map { String(bytes: $0) } == "21:30:51")
        // The rules give the session every line but the `SMTP(tcp)` record and the
        // SYSTEM records of its message (with the SYSTEM record's continuation line).
        let all = split(bytes)
        let expected = all.indices.filter { i in
            let t = String(bytes: all[i])
            return !t.contains("SMTP(tcp)") && !t.contains(" SYSTEM") && !t.hasPrefix("0+1 From:")
        }
        #expect(expected.count == all.count - 5)
        #expect(s.lines.map { Int($0.lineNumber) - 1 } == expected)
        for (k, i) in expected.enumerated() {
            #expect(Array(s.bytes(ofLine: k)) == all[i])
        }
        // Byte offsets point at the lines in the file.
        for (k, l) in s.lines.enumerated() {
            let off = Int(l.byteOffset)
            #expect(Array(bytes[off..<(off + Int(l.length))]) == Array(s.bytes(ofLine: k)))
        }
    }

    @Test func summaryLinesSayWhatTheSessionHolds() throws {
        let (sessions, _) = Sessionizer.sessions(of: try TestData.fixture("1999-04-28.log"), date: CivilDate(iso: "1999-04-28")!)
        let s = try #require(sessions.first)
        func line(_ s: Session) -> [UInt8] {
            var out = [UInt8]()
            SessionView(session: s, sourceName: { _ in "" }).appendSummaryLine(to: &out)
            return out
        }
        #expect(String(bytes: line(s)) == "1999-04-28 SMTP-509 21:30:41-21:30:51 209.162.104.65:1957 helo=desk98 emailplus@321media.com -> recipes@hypertouch.com msg=S.0000014724")
        #expect(SessionView(session: s, sourceName: { _ in "" }).summaryLine() == String(bytes: line(s)))
        // Every field in its other forms: IPv6, no end, bytes that are not UTF-8, the null
        // sender, several addresses, auth, TLS; then no peer and no recipient, incomplete.
        var t = s
        t.facts.peer = IPAddress("2001:db8::5"); t.end = nil; t.facts.helo = [0xFF, 0x41, 0xC3]
        t.facts.from = [[], [0x80]]; t.facts.rejected = [Array("a@b".utf8), [0xFE]]
        t.facts.auth = Array("joe".utf8); t.facts.tls = true; t.channel = ChannelKey(kind: ChannelKey.smtpi, id: 7)
        #expect(line(t) == Array("1999-04-28 SMTPI-7 21:30:41-? [2001:db8::5]:1957 helo=\u{FFFD}A\u{FFFD} <>,\u{FFFD} -> recipes@hypertouch.com rejected=a@b,\u{FFFD} msg=S.0000014724 auth=joe tls".utf8))
        var u = s
        u.facts.peer = nil; u.facts.helo = nil; u.facts.to = []; u.facts.messages = []; u.complete = false
        u.date = CivilDate(iso: "0007-01-02")!
        #expect(String(bytes: line(u)) == "0007-01-02 SMTP-509 21:30:41-21:30:51 ? helo=- emailplus@321media.com -> - incomplete")
        // Line numbers and byte offsets in provenance and evidence.
        for v: UInt64 in [0, 9, 10, 99, 100, 1_234_567, 9_999_999_999_999_999, 10_000_000_000_000_000, .max - 1, .max] {
            var out = Array("x".utf8)
            SessionView.appendDecimal(v, to: &out)
            #expect(out == Array("x\(v)".utf8))
        }
    }

    @Test func session750HasOddSpacingAndLowercaseQuit() throws {
        let bytes = try TestData.fixture("1999-04-29.log")
        let (sessions, _) = Sessionizer.sessions(of: bytes, date: CivilDate(iso: "1999-04-29")!)
        let s = try #require(sessions.first)
        #expect(sessions.count == 1)
        #expect(s.lineID == 750)
        #expect(s.facts.peer == IPAddress("36.37.0.13"))
        #expect(s.facts.port == 39891)
        #expect(s.facts.helo.map { String(bytes: $0) } == "Made-Up-Name-desk98")
        #expect(s.facts.from.map { String(bytes: $0) } == ["made-up-name-emailplus@321media.com"])
        #expect(s.facts.to.map { String(bytes: $0) } == ["recipes@hypertouch.com"])
        #expect(s.facts.messages.map { String(bytes: $0) } == ["S.0000014938"])
        #expect(s.complete)
    }

    @Test func bothFilesAsOneStreamEveryChunkSize() throws {
        // The same sessions whatever the chunk size: stitching joins what chunking cut.
        let bytes = try TestData.fixture("1999-04-28.log")
        let (reference, _) = Sessionizer.sessions(of: bytes, date: CivilDate(iso: "1999-04-28")!)
        for size in [256, 300, 512, 1000, 2048] {
            for threads in [1, 2] {
                let (s, _) = Sessionizer.sessions(of: bytes, date: CivilDate(iso: "1999-04-28")!, threads: threads, chunkSize: size)
                #expect(s == reference, "chunk size \(size)")
            }
        }
    }
}
