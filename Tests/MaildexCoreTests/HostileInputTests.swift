import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

@Suite struct HostileInputTests {
    func run(_ bytes: [UInt8], chunkSize: Int = 64) -> (sessions: [Session], counts: ParseCounts) {
        var best: (sessions: [Session], counts: ParseCounts)? = nil
        for threads in [1, 2] {
            let r = Sessionizer.sessions(of: bytes, date: CivilDate(iso: "2020-01-01")!, threads: threads, chunkSize: chunkSize)
            if let b = best { #expect(r.sessions == b.sessions); #expect(r.counts == b.counts) }
            best = r
        }
        let newlines = bytes.filter { $0 == 10 }.count
        let expectedLines = newlines + ((bytes.last.map { $0 != 10 } ?? false) ? 1 : 0)
        #expect(best!.counts.lines == UInt64(expectedLines))
        #expect(best!.counts.bytes == UInt64(bytes.count))
        expectStoreRoundTrip(best!.sessions)
        expectHeaderHintsEncodeAsParsing(bytes, chunkSize: chunkSize)
        return best!
    }

    /// The indexer encodes lines with the header shape the chunk parser found
    /// (`LineHeader`); that must give the same bytes as parsing each line again.
    func expectHeaderHintsEncodeAsParsing(_ bytes: [UInt8], chunkSize: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        bytes.withUnsafeBytes { p in
            guard p.count > 0 else { return }
            var hinted = 0, differing = 0
            for range in RecordBoundaries.split(p, target: chunkSize) {
                for f in ChunkParser.parse(p, range).fragments {
                    var a = LineEncoder(), b = LineEncoder()
                    var opsA = ByteWriter(), opsB = ByteWriter()
                    var textA = [UInt8](), textB = [UInt8]()
                    for i in f.lines.indices {
                        let l = f.lines[i]
                        let line = UnsafeRawBufferPointer(rebasing: p[Int(l.offset)..<Int(l.offset + l.length)])
                        if l.header != 0 { hinted += 1 }
                        a.encode(line, header: l.header, ops: &opsA, text: &textA)
                        b.encode(line, header: 0, ops: &opsB, text: &textB)
                    }
                    if opsA.bytes != opsB.bytes || textA != textB { differing += 1 }
                }
            }
            #expect(differing == 0, "fragments encoded differently with the parser's header hints", sourceLocation: sourceLocation)
            _ = hinted
        }
    }

    /// The store gives back every session exactly, whatever its lines look like.
    func expectStoreRoundTrip(_ sessions: [Session], sourceLocation: SourceLocation = #_sourceLocation) {
        guard !sessions.isEmpty else { return }
        let (block, _) = SessionCodec.encodeBlock(sessions[...])
        let decoded = block.withUnsafeBytes { try? SessionCodec.decodeAll(block: $0, count: sessions.count) }
        let changed = sessions.indices.filter { decoded == nil || decoded![$0] != sessions[$0] }
        #expect(changed.isEmpty, "the store changed sessions \(changed.prefix(5).map { sessions[$0].number })",
                sourceLocation: sourceLocation)
    }

    @Test func emptyHeaderTailsRepeatedSurviveTheStore() {
        // A record with neither tag nor data ("TIME LEVEL ") has an empty header tail;
        // a second one repeats it from the recent tails.
        let texts = ["10:00:00 5 SMTP-7() Stream Created", "12:00:01 4 ", "12:00:02 4 ", "12:00:03.5 4 ", "12:00:04 4 x"]
        var text = [UInt8](), lines = [SessionLine]()
        for (k, t) in texts.enumerated() {
            lines.append(SessionLine(source: 0, lineNumber: UInt64(k + 1), byteOffset: 0, length: UInt32(t.utf8.count),
                                     textOffset: UInt32(text.count)))
            text += Array(t.utf8)
        }
        let s = Session(number: 1, date: CivilDate(iso: "2020-01-01")!, channel: ChannelKey(kind: 0, id: 7),
                        start: Array("10:00:00".utf8), end: nil, complete: false, facts: SessionFacts(), text: text, lines: lines)
        expectStoreRoundTrip([s])
    }

    @Test func oddRecordLinesSurviveTheStore() {
        // Lines the store's short form must not mangle: fractions of 1 to 6 digits,
        // times that go back or jump, times no clock shows, a bare header, CR before
        // the line end, an empty context, tails longer than the recent-tail limit.
        let long = String(repeating: "x", count: 300)
        let lines = [
            "10:00:00 5 SMTP-7() Stream Created",
            "10:00:00.1 4 SMTP-7([10.0.0.1]) Got connection from [10.0.0.1:25]",
            "09:59:59.123456 4 SMTP-7([10.0.0.1]) Input Line: HELO a\\r",
            "23:59:59.000 4 SMTP-7(a) Sending 250 ok\\r\\n",
            "00:00:00 4 SMTP-7(a) x\r",
            "99:99:99 4 SMTP-7(a) not a clock",
            "12:60:00 4 SMTP-7(a) minute 60",
            "12:00:00 4 SMTP-7(\(long)) long context",
            "12:00:00 4 SMTP-7(\(long)) long context again",
            "12:00:01 4 SMTP-7(a)",
            "12:00:01 4 SMTP-7(a) ",
            "12:00:01 9 SMTP-7(a)  two spaces",
            "continuation line without a time",
            "",
            "12:00:02 4 SMTP-7(b) b", "12:00:02 4 SMTP-7(c) c", "12:00:02 4 SMTP-7(d) d", "12:00:02 4 SMTP-7(e) e",
            "12:00:02 4 SMTP-7(a) a again after four others",
            "12:00:03 5 SMTP-7(a) Stream Disposed",
        ]
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        let r = run(bytes, chunkSize: 1 << 20)
        #expect(r.sessions.count == 1)
        #expect(r.sessions.first?.lines.count == lines.count)
    }

    @Test func randomBytesNeverCrash() {
        var random = SeededRandom(seed: 99)
        let alphabet = Array("0123456789:. -()[]<>@SMTPIline\r\n\0\u{FF}".utf8) + [0xC3, 0x28, 0xFF, 0x00]
        for round in 0..<300 {
            let n = random.below(3000)
            var bytes = [UInt8]()
            for _ in 0..<n {
                bytes.append(round % 2 == 0 ? UInt8(truncatingIfNeeded: random.next()) : alphabet[random.below(alphabet.count)])
            }
            _ = run(bytes, chunkSize: 256 + random.below(512))
        }
    }

    @Test func mutatedFixtureNeverCrashes() throws {
        let original = try TestData.fixture("1999-04-28.log")
        var random = SeededRandom(seed: 5)
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<(1 + random.below(20)) {
                let i = random.below(bytes.count)
                switch random.below(4) {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: i)
                case 2: bytes.insert(contentsOf: Array("\n21:30:41 5 SMTP-509(".utf8), at: i)
                default: bytes.insert(0, at: i)
                }
            }
            _ = run(bytes, chunkSize: 300)
        }
    }

    @Test func lineWithoutRecordBeforeIsUnparsed() {
        let text = Array("garbage first\n\n21:30:41 5 SMTP-509() Stream Created\n21:30:41 5 SMTP-509() Stream Disposed".utf8)
        let r = run(text)
        #expect(r.counts.unparsed == 2)
        #expect(r.counts.records == 2)
        #expect(r.sessions.count == 1)
        #expect(r.sessions[0].complete)
    }

    /// A line that begins with a time but is no record (binary bytes, no level digit, no
    /// tag) is unparsed, with the lines after it, and ends the record above: a session's
    /// transcript never gains it, even after its `Stream Disposed`.
    @Test(arguments: ["12:23:35 \u{01}\u{02}\u{7F}binary", "12:23:35 X SMTP-509() Input Line: RSET", "12:23:35 5 ",
                      "12:23:35", "12:23:35.1234 junk"])
    func lineWithATimeThatIsNoRecordIsUnparsed(_ damaged: String) {
        let open = "21:30:41 5 SMTP-509() Stream Created\n21:30:42 4 SMTP-509() Input Line: HELO a\n"
        let close = "21:30:43 5 SMTP-509() Stream Disposed\n"
        // After the session's last line, then with a continuation line after it.
        var r = run(Array((open + close + damaged + "\n").utf8))
        #expect(r.counts.unparsed == 1)
        #expect(r.counts.records == 3)
        #expect(r.sessions.count == 1 && r.sessions[0].lines.count == 3 && r.sessions[0].complete)
        r = run(Array((open + close + damaged + "\nmore junk\n\n21:30:44 5 SMTP-510() Stream Created\n").utf8), chunkSize: 40)
        #expect(r.counts.unparsed == 3)
        #expect(r.sessions.count == 2 && r.sessions.allSatisfy { $0.lines.count == ($0.channel.id == 509 ? 3 : 1) })
        // Inside a session: the session keeps its records, not the damaged line.
        r = run(Array((open + damaged + "\n" + close).utf8))
        #expect(r.counts.unparsed == 1)
        #expect(r.sessions.count == 1 && r.sessions[0].lines.count == 3 && r.sessions[0].complete)
        #expect(!r.sessions[0].lines.indices.contains { r.sessions[0].bytes(ofLine: $0).starts(with: Array("12:23:35".utf8)) })
    }

    /// An index run names the file and byte offset of such a line.
    @Test func indexRunNotesALineWithATimeThatIsNoRecord() throws {
        let dir = TestData.temporaryDirectory("damaged-record")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
        let head = "21:30:41 5 SMTP-509() Stream Created\n21:30:43 5 SMTP-509() Stream Disposed\n"
        let text = head + "12:23:35 \u{01}\u{02}\n\u{03}\n21:30:44 5 SMTP-510() Stream Created\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/logs/2020-01-01.log"))
        let report = try Indexer.run(directory: dir + "/idx", paths: [dir + "/logs/2020-01-01.log"], options: Indexer.Options())
        #expect(report.unparsed == 2)
        #expect(report.notes.contains { $0.contains("2020-01-01.log: at byte \(head.utf8.count): a line that begins with a time but is no record, with 1 line(s) after it") },
                "\(report.notes)")
    }

    @Test func crlfLineEnds() throws {
        let lf = try TestData.fixture("1999-04-28.log")
        var crlf = [UInt8]()
        for b in lf { if b == 10 { crlf.append(13) }; crlf.append(b) }
        let a = run(lf).sessions, b = run(crlf).sessions
        #expect(a.count == 1 && b.count == 1)
        #expect(a[0].facts == b[0].facts)
        #expect(b[0].complete)
        // Lines stay verbatim: the carriage return is part of each stored line.
        #expect(b[0].bytes(ofLine: 0).last == 13)
    }

    @Test func hugeLinesAndNul() {
        var text = Array("10:00:00 5 SMTP-1() Stream Created\n10:00:01 4 SMTP-1([1.2.3.4]) Input Line: HELO ".utf8)
        text += [UInt8](repeating: 0x41, count: 400_000)
        text += Array("\0\\r\n".utf8)
        text += [UInt8](repeating: 0, count: 1000) + [10]
        text += Array("10:00:02 5 SMTP-1([1.2.3.4]) Stream Disposed".utf8)  // no final newline
        let r = run(text, chunkSize: 4096)
        #expect(r.sessions.count == 1)
        #expect(r.sessions[0].lines.count == 4)
        #expect(r.sessions[0].complete)
        #expect(r.sessions[0].facts.peer == IPAddress("1.2.3.4"))
    }

    @Test func orphanRecordsStartAnIncompleteSessionAndIdsAreReused() {
        let text = Array("""
        10:00:00 4 SMTP-7([1.2.3.4]) Input Line: QUIT\\r
        10:00:00 5 SMTP-7([1.2.3.4]) Stream Disposed
        10:00:01 5 SMTP-7() Stream Created
        10:00:01 4 SMTP-7() Got connection from [5.6.7.8:25]
        10:00:02 5 SMTP-7() Stream Created
        10:00:03 5 SMTP-7([9.9.9.9]) Stream Disposed

        """.utf8)
        let r = run(text)
        #expect(r.sessions.count == 3)
        #expect(r.sessions.map(\.complete) == [false, false, true])
        #expect(r.sessions[0].end == nil)
        #expect(r.sessions[1].facts.peer == IPAddress("5.6.7.8"))
        #expect(r.sessions[1].facts.port == 25)
        #expect(r.sessions[2].facts.peer == IPAddress("9.9.9.9"))
    }

    @Test func ipAddressesParseAndPrint() {
        for (text, out) in [("1.2.3.4", "1.2.3.4"), ("2001:db8::1", "2001:db8::1"), ("::", "::"), ("::1", "::1"),
                            ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("::ffff:1.2.3.4", "1.2.3.4"),
                            ("fe80::1:2:3:4", "fe80::1:2:3:4")] {
            #expect(IPAddress(text)?.description == out, "\(text)")
        }
        for bad in ["1.2.3", "1.2.3.256", "1.2.3.4.5", "2001:db8:::1", "1::2::3", "g::1", "", "1.2.3.4:5"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct TermTableTests {
    @Test func termsSortAsBytesAndIdsAreStable() {
        var random = SeededRandom(seed: 8)
        let table = TermTable()
        var terms = [[UInt8]]()
        var ids = [UInt32]()
        for _ in 0..<20_000 {
            // Shared prefixes, zero bytes, lengths around the 16-byte sort key.
            var t: [UInt8] = [65] + Array("sender".utf8)
            for _ in 0..<random.below(14) { t.append([0, 1, 48, 49, 64, 255][random.below(6)]) }
            let h = t.withUnsafeBytes { TermTable.hash($0) }
            let id = t.withUnsafeBytes { table.insert($0, h) }
            if let k = terms.firstIndex(of: t) { #expect(ids[k] == id) } else { terms.append(t); ids.append(id) }
        }
        #expect(table.count == terms.count)
        let sorted = table.sortedIDs().map { Array(table.term(Int($0))) }
        #expect(sorted == terms.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test func batchInsertGivesEachTermItsId() {
        // A batch inserted in one call (its probes started terms ahead) numbers its terms
        // as inserting them one at a time does: batches shorter than the prefetch distance
        // and many times it, of repeated and new terms, across the table's grows.
        var random = SeededRandom(seed: 18)
        let together = TermTable(), alone = TermTable()
        let date = CivilDate(iso: "2026-01-01")!
        var number: UInt64 = 0
        for sessions in [1, 2, 9, 3_000, 40_000, 5] {
            var batch = TermBatch()
            for _ in 0..<sessions {
                var facts = SessionFacts()
                facts.from = [Array("u\(random.below(50_000))@d\(random.below(300)).example".utf8)]
                number += 1
                batch.add(session: SessionRecord(number: number, date: date, channel: ChannelKey(kind: ChannelKey.smtpi, id: UInt32(random.below(9))),
                                                 complete: true, startSecond: 0, facts: facts, lineCount: 0, textBytes: 0, firstSource: 0) { _ in })
            }
            var ids = [UInt32](repeating: .max, count: batch.count)
            var order = [Int]()
            together.insert(batch) { t, id in ids[t] = id; order.append(t) }
            #expect(order == Array(0..<batch.count))
            for t in 0..<batch.count {
                let term = Array(batch.term(t))
                let id = term.withUnsafeBytes { alone.insert($0, TermTable.hash($0)) }
                #expect(ids[t] == id)
                #expect(Array(together.term(Int(ids[t]))) == term)
            }
        }
        #expect(together.count == alone.count)
        #expect(together.count > 1 << 15)  // past the first grow, at half of 65,536 slots
    }

    @Test(arguments: [1, 2]) func manyTermsSortAsBytes(threads: Int) {
        // Enough terms for the split sort, with prefixes longer than the 16-byte key
        // (addresses of one domain), short binary terms, and zero bytes; and terms that
        // share their first 40 bytes and then end or go on with zeros, ones and 255s, so
        // runs that tie on 16 and on 32 bytes hold terms that are prefixes of others.
        var random = SeededRandom(seed: 81)
        let table = TermTable()
        var seen = Set<[UInt8]>()
        let long = [82] + Array("a-rather-long-domain-name.example.org@x".utf8)
        while seen.count < 40_000 {
            var t: [UInt8]
            switch random.below(4) {
            case 0: t = Array("Fdomain\(random.below(40)).example@local\(random.below(5000))".utf8)
            case 1: t = (0..<(1 + random.below(20))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case 2: t = Array(long.prefix(16 + random.below(25))) + (0..<random.below(12)).map { _ in [0, 1, 255][random.below(3)] }
            default: t = [80] + [UInt8](repeating: 0, count: random.below(18)) + [UInt8(random.below(3))]
            }
            let h = t.withUnsafeBytes { TermTable.hash($0) }
            _ = t.withUnsafeBytes { table.insert($0, h) }
            seen.insert(t)
        }
        #expect(table.count == seen.count)
        let sorted = table.sortedIDs(threads: threads).map { Array(table.term(Int($0))) }
        #expect(sorted == seen.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test func radixSortSorts() {
        var random = SeededRandom(seed: 9)
        // Spread keys, keys like the postings' (a rank over a session number), keys whose
        // top digits are all alike, and keys that are mostly one value.
        let shapes: [[UInt64]] = [
            (0..<200_000).map { _ in random.next() >> UInt64(random.below(40)) },
            (0..<200_000).map { _ in UInt64(random.below(50_000)) << 40 | UInt64(random.below(1 << 22)) },
            (0..<100_000).map { _ in 7 << 40 | UInt64(random.below(1 << 30)) },
            (0..<100_000).map { i in i % 10 == 0 ? random.next() : 42 },
            (0..<3000).map { _ in random.next() },
        ]
        for a in shapes {
            let expected = a.sorted()
            // One part, and (from 65,536 keys on; the last shape is always one part) keys
            // cut into parts sorted at once: a pass that lost the order of equal digits
            // across parts would leave the keys out of order.
            for threads in [1, 2, 3] {
                var sorted = a
                radixSort(&sorted, threads: threads)
                let firstDifference = sorted.indices.first { $0 < expected.count && sorted[$0] != expected[$0] }
                #expect(sorted.count == expected.count && firstDifference == nil,
                        "threads \(threads), \(a.count) keys: first difference at \(String(describing: firstDifference))")
            }
        }
    }
}

@Suite struct EndlessSessionTests {
    @Test func aChannelThatNeverClosesIsCutNotLost() {
        // 70 MB on one channel: more than one session may hold, so it is cut into
        // sessions (the first incomplete), and every line is still in exactly one.
        var text = Array("10:00:00 5 SMTP-1() Stream Created\n".utf8)
        let record = Array("10:00:01 5 SMTP-1([1.2.3.4]) Received ".utf8) + [UInt8](repeating: 120, count: 1000) + [10]
        let count = (70 << 20) / record.count
        text.reserveCapacity(text.count + count * record.count)
        for _ in 0..<count { text += record }
        let (sessions, counts) = Sessionizer.sessions(of: text, date: CivilDate(iso: "2020-01-01")!, threads: 2, chunkSize: 1 << 20)
        #expect(sessions.count >= 2)
        #expect(sessions.allSatisfy { !$0.complete })
        #expect(sessions.allSatisfy { $0.text.count <= SessionStitcher.maxSessionBytes + (2 << 20) })
        #expect(sessions.reduce(0) { $0 + $1.lines.count } == count + 1)
        #expect(counts.lines == UInt64(count + 1))
    }
}

@Suite struct ChecksumTests {
    @Test func crc32cHasTheStandardCheckValueAndBothWaysAgree() {
        // The check value of CRC-32C (RFC 3720, appendix B.4): "123456789" → E3069283.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        var random = SeededRandom(seed: 32)
        let bytes = (0..<4096).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        bytes.withUnsafeBytes { all in
            for _ in 0..<500 {
                let start = random.below(64), count = random.below(all.count - 64)
                let piece = UnsafeRawBufferPointer(rebasing: all[start..<(start + count)])
                let software = CRC32C.software(0, piece.baseAddress!, piece.count)
                #expect(CRC32C.checksum(piece) == software)
                // Continuing over two pieces is the CRC of the whole.
                let cut = random.below(count + 1)
                let first = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: piece[0..<cut]))
                #expect(CRC32C.update(first, UnsafeRawBufferPointer(rebasing: piece[cut...])) == software)
            }
        }
    }
}

@Suite struct TermBatchTests {
    /// The writer builds terms straight into its arena; they must be the bytes the query
    /// side looks up with `Terms` (`addressKey`, `domain(of:)`, the 256-byte cut).
    @Test func sessionTermsAreTheQuerySidesKeys() {
        let long = [UInt8](repeating: 120, count: 300)
        var facts = SessionFacts()
        facts.peer = IPAddress(v4: 0xC0A8_0102)
        facts.helo = Array("Mail.Example.COM".utf8)
        facts.messages = [Array("S.0000014724".utf8), long]
        facts.from = [Array("Bob@Example.org".utf8), Array("no-at-sign".utf8)]
        facts.to = [Array("a@b@c.example".utf8), Array("trailing@".utf8), long + [64] + Array("x.example".utf8)]
        facts.rejected = [Array("r@".utf8) + long]
        facts.auth = Array("User7@Example.com".utf8)
        let date = CivilDate(iso: "2026-01-05")!
        let batch = TestData.termBatch(of: facts, number: 77, date: date, channel: 60353, server: "MX01")
        let got = Set((0..<batch.count).map { Array(batch.term($0)) })
        #expect((0..<batch.count).allSatisfy { batch.sessions[$0] == 77 })

        func term(_ kind: TermKind, _ key: some Collection<UInt8>) -> [UInt8] { [kind.rawValue] + Array(key.prefix(Terms.maxKeyBytes)) }
        func lowered(_ b: [UInt8]) -> [UInt8] { b.map(Bytes.lower) }
        var expected: Set<[UInt8]> = [
            Terms.peer(facts.peer!), Terms.date(date), Terms.line(60353, date),
            term(.helo, lowered(facts.helo!)), term(.auth, lowered(facts.auth!)), term(.server, Array("mx01".utf8)),
        ]
        // Its states: not over TLS, complete (as the record says), inbound, a recipient rejected.
        for flag in ["tls:no", "status:complete", "direction:in", "status:rejected"] { expected.insert(term(.flag, Array(flag.utf8))) }
        for m in facts.messages { expected.insert(term(.message, lowered(m))) }
        for (kind, list) in [(TermKind.sender, facts.from), (.recipient, facts.to), (.rejected, facts.rejected)] {
            for a in list {
                expected.insert(term(kind, Terms.addressKey(a)))
                if let d = Terms.domain(of: a) { expected.insert(term(.domain, d)) }
            }
        }
        #expect(got == expected)
        #expect(got.allSatisfy { $0.count <= Terms.maxKeyBytes + 1 })
    }
}

@Suite struct JSONQuotingTests {
    @Test func asciiFastPathQuotesAsTheGeneralOne() {
        var random = SeededRandom(seed: 34)
        for round in 0..<2000 {
            let n = random.below(80)
            // ASCII with every control character, quotes, backslashes and DEL; every tenth
            // string gets a non-ASCII byte (valid or not), which takes the general path.
            var bytes = (0..<n).map { _ in UInt8(random.below(128)) }
            if round % 10 == 0 { bytes.insert([0xC3, 0xA9, 0xFF, 0x80][random.below(4)], at: random.below(n + 1)) }
            let general = JSONObjectWriter.quote(String(decoding: bytes, as: UTF8.self))
            #expect(JSONObjectWriter.quote(bytes: bytes) == general, "\(bytes)")
            var viaBytes = [UInt8]()
            JSONBytesWriter.appendQuoted(bytes, to: &viaBytes)
            #expect(String(decoding: viaBytes, as: UTF8.self) == general, "\(bytes)")
            // The two object writers agree field by field.
            var a = JSONObjectWriter(), b = JSONBytesWriter()
            a.string("s", String(decoding: bytes, as: UTF8.self)); b.string("s", bytes: bytes)
            a.optionalString("n", nil); b.optionalString("n", bytes: nil)
            a.strings("l", [String(decoding: bytes, as: UTF8.self), "x"]); b.strings("l", bytes: [bytes, [120]])
            a.int("i", -n); b.int("i", -n)
            a.bool("t", round % 2 == 0); b.bool("t", round % 2 == 0)
            #expect(String(decoding: b.finish(), as: UTF8.self) == a.finish())
        }
        #expect(JSONObjectWriter.quote(bytes: Array("a\"b\\c\u{1}\t".utf8)) == #""a\"b\\c\u0001\t""#)
    }
}
