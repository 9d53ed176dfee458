import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

/// The slow, obviously correct answer: scan the generator's ground truth.
struct TruthScan {
    let sessions: [TruthSession]  // in session-number order
    /// The server the corpus was indexed as (`index --server`).
    var server: String? = nil

    init(_ corpus: GeneratedCorpus, server: String? = nil) {
        self.server = server
        sessions = corpus.sessions.sorted { ($0.firstLine.file, $0.firstLine.line) < ($1.firstLine.file, $1.firstLine.line) }
    }

    func seconds(_ t: String) -> Int32 {
        let b = Array(t.utf8)
        func d(_ i: Int) -> Int32 { Int32(b[i] - 48) }
        return d(0) * 36000 + d(1) * 3600 + d(3) * 600 + d(4) * 60 + d(6) * 10 + d(7)
    }

    /// Whether a session of the truth has a state (`tls:`, `status:`, `direction:`).
    static func has(_ f: SessionFlag, _ s: TruthSession) -> Bool {
        switch f {
        case .tlsYes: return s.tls
        case .tlsNo: return !s.tls
        case .complete: return s.complete
        case .incomplete: return !s.complete
        case .rejected: return !s.rejected.isEmpty
        case .accepted: return s.accepted
        case .inbound: return s.direction == "in"
        case .outbound: return s.direction == "out"
        }
    }

    /// Whether a session of the truth has the fact a predicate asks for.
    func holds(_ p: Query.Predicate, _ s: TruthSession) -> Bool {
        switch p {
        case .peer(let r): return s.peer.map(r.contains) ?? false
        case .address(let a): return (s.from + s.to + s.rejected).contains(String(bytes: a))
        case .sender(let a): return s.from.contains(String(bytes: a))
        case .recipient(let a): return (s.to + s.rejected).contains(String(bytes: a))
        case .domain(let d): return (s.from + s.to + s.rejected).contains { $0.hasSuffix("@" + String(bytes: d)) }
        case .helo(let h): return s.helo?.lowercased() == String(bytes: h)
        case .message(let m): return s.messages.map { $0.lowercased() }.contains(String(bytes: m))
        case .line(let n): return s.channel.id == n
        case .auth(let a): return s.auth?.lowercased() == String(bytes: a)
        case .server(let v): return server == String(bytes: v)
        case .flag(let f): return Self.has(f, s)
        }
    }

    func holds(_ e: Query.Expr, _ s: TruthSession) -> Bool {
        switch e {
        case .predicate(let p): return holds(p, s)
        case .all(let items): return items.allSatisfy { holds($0, s) }
        case .any(let items): return items.contains { holds($0, s) }
        case .not(let inner): return !holds(inner, s)
        }
    }

    func matches(_ q: Query) -> [UInt64] {
        sessions.indices.filter { i in
            let s = sessions[i]
            guard q.predicates.allSatisfy({ holds($0, s) }), q.groups.allSatisfy({ holds($0, s) }) else { return false }
            if !q.lineKinds.allSatisfy({ UInt64($0) == s.channel.kind }) { return false }
            if let f = q.fromDate {
                if s.date < f { return false }
                if s.date == f, let sec = q.fromSecond, seconds(s.start) < sec { return false }
            }
            if let t = q.toDate {
                if s.date > t { return false }
                if s.date == t, let sec = q.toSecond, seconds(s.start) > sec { return false }
            }
            return true
        }.map { UInt64($0) }
    }
}

@Suite(.serialized) struct QueryTests {
    static let fixture: (logs: String, index: String, corpus: GeneratedCorpus, scan: TruthScan) = {
        let (logs, corpus) = try! TestData.generate("query", dialect: .cgp, days: 3, sessionsPerDay: 500, seed: 11, recordLines: false)
        let dir = TestData.temporaryDirectory("query-idx")
        TestData.removeAtExit(logs)
        TestData.removeAtExit(dir)
        _ = try! index([logs], into: dir, postingsLimit: 20_000)  // several segments
        return (logs, dir, corpus, TruthScan(corpus))
    }()

    func check(_ terms: [String], expectNonEmpty: Bool? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let q = try Query.parse(terms)
        let got = try QueryEngine(index: try IndexReader(directory: Self.fixture.index)).matches(q)
        let want = Self.fixture.scan.matches(q)
        #expect(got == want, "\(terms): \(got.count) vs \(want.count) sessions", sourceLocation: sourceLocation)
        if let e = expectNonEmpty { #expect(!want.isEmpty == e, "\(terms) should \(e ? "" : "not ")match", sourceLocation: sourceLocation) }
    }

    @Test func everyKindOfTermEqualsTheScan() throws {
        let truth = Self.fixture.scan.sessions
        var random = SeededRandom(seed: 1)
        #expect(truth.count > 1000)
        #expect(try IndexReader(directory: Self.fixture.index).segments.count > 1)
        // Busy and rare peers, addresses in each role, domains, HELO names, message ids, line ids.
        var peerCounts = [IPAddress: Int]()
        for s in truth { if let p = s.peer { peerCounts[p, default: 0] += 1 } }
        let busy = peerCounts.max { $0.value < $1.value }!.key
        let rare = peerCounts.first { $0.value == 1 }!.key
        try check(["ip:\(busy)"], expectNonEmpty: true)
        try check(["\(rare)"], expectNonEmpty: true)
        for _ in 0..<15 {
            let s = truth[random.below(truth.count)]
            if let p = s.peer { try check(["ip:\(p)"], expectNonEmpty: true) }
            if let f = s.from.first { try check(["from:\(f.isEmpty ? "<>" : f)"], expectNonEmpty: true) }
            if let t = (s.to + s.rejected).first {
                try check(["to:\(t)"], expectNonEmpty: true)
                try check(["addr:\(t.uppercased())"], expectNonEmpty: true)
                try check(["domain:\(t.split(separator: "@").last!)"], expectNonEmpty: true)
            }
            if let h = s.helo { try check(["helo:\(h)"], expectNonEmpty: true) }
            if let m = s.messages.first { try check(["msg:\(m)"], expectNonEmpty: true); try check([m], expectNonEmpty: true) }
            try check(["line:\(s.channel.id)"], expectNonEmpty: true)
            try check(["line:\(s.channel.id)", "date:\(s.date)"], expectNonEmpty: true)
        }
        // Zero results.
        try check(["ip:192.0.2.1"], expectNonEmpty: false)
        try check(["addr:nobody@nowhere.invalid"], expectNonEmpty: false)
        try check(["msg:999999999999"], expectNonEmpty: false)
        try check(["date:2020-01-01"], expectNonEmpty: false)
    }

    /// Random queries of one to four terms of every kind, joined by AND, OR, NOT, a
    /// leading `-`, parentheses and comma lists, with a time bound now and then: the
    /// engine's answer is the slow scan's of the ground truth.
    @Test func randomBooleanQueriesOfEveryKindEqualTheScan() throws {
        let truth = Self.fixture.scan.sessions
        var random = SeededRandom(seed: 18)
        let reader = try IndexReader(directory: Self.fixture.index)
        let engine = QueryEngine(index: reader)
        func pick<T>(_ list: [T]) -> T? { list.isEmpty ? nil : list[random.below(list.count)] }
        /// A term about a random session (or a value no session has).
        func term() -> String {
            let s = truth[random.below(truth.count)]
            for _ in 0..<8 {
                switch random.below(15) {
                case 0: if let p = s.peer { return "ip:\(p)" }
                case 1: if let p = s.peer, p.isV4 { return "ip:\(p)/\(16 + random.below(9))" }
                case 2: if let a = pick(s.from + s.to + s.rejected) { return "addr:\(a.isEmpty ? "<>" : a)" }
                case 3: if let f = pick(s.from), !f.isEmpty { return "from:\(f)" }
                case 4: if let t = pick(s.to + s.rejected) { return "to:\(t)" }
                case 5: if let a = pick(s.to), let d = a.split(separator: "@").last { return "domain:\(d)" }
                case 6: if let h = s.helo, !h.contains("("), !h.contains(")"), !h.contains(",") { return "helo:\(h)" }
                case 7: if let m = pick(s.messages) { return "msg:\(m)" }
                case 8: return "line:\(s.channel.id)"
                case 9: if let a = s.auth { return "auth:\(a)" }
                case 10: return pick(["tls:yes", "tls:no"])!
                case 11: return "status:" + pick(["complete", "incomplete", "rejected", "accepted"])!
                case 12: return "direction:" + pick(["in", "out"])!
                case 13: return pick(["server:mx1", "ip:192.0.2.77", "msg:999999999", "from:nobody@nowhere.invalid"])!
                default: if let p = s.peer, let o = pick(truth).flatMap(\.peer) { return "ip:\(p),\(o)" }
                }
            }
            return "line:\(s.channel.id)"
        }
        /// An expression of `k` terms, as tokens.
        func expression(_ k: Int) -> [String] {
            if k == 1 {
                switch random.below(6) {
                case 0: return ["NOT", term()]
                case 1: return ["-" + term()]
                default: return [term()]
                }
            }
            let left = 1 + random.below(k - 1)
            let a = expression(left), b = expression(k - left)
            let joined = random.chance(0.5) ? a + ["OR"] + b : a + b
            return random.chance(0.4) ? ["("] + joined + [")"] : joined
        }
        var nonEmpty = 0, checked = 0
        for _ in 0..<300 {
            var terms = expression(1 + random.below(4))
            if random.chance(0.2), let s = pick(truth) {
                // A time bound narrows the whole query: beside it, an OR stands in parentheses.
                terms = ["("] + terms + [")", pick(["date:\(s.date)", "since:\(s.date)", "until:\(s.date)"])!]
            }
            let q: Query
            do { q = try Query.parse(terms) } catch {
                Issue.record("\(terms) does not parse: \(error)")
                continue
            }
            let got = try engine.matches(q), want = Self.fixture.scan.matches(q)
            #expect(got == want, "\(terms.joined(separator: " ")): \(got.count) vs \(want.count)")
            if !want.isEmpty { nonEmpty += 1 }
            checked += 1
        }
        #expect(checked == 300 && nonEmpty > 100, "\(nonEmpty) of \(checked) queries matched something")
    }

    @Test func cidrEdgesAndDateRanges() throws {
        let truth = Self.fixture.scan.sessions
        try check(["ip:0.0.0.0/0"], expectNonEmpty: true)
        try check(["ip:::/0"], expectNonEmpty: true)
        try check(["ip:2001:db8::/32"], expectNonEmpty: true)
        try check(["ip:2001:db8::/16"], expectNonEmpty: true)
        let v4 = truth.compactMap(\.peer).first { $0.isV4 }!
        let v6 = truth.compactMap(\.peer).first { !$0.isV4 }!
        try check(["ip:\(v4)/32"], expectNonEmpty: true)
        try check(["ip:\(v6)/128"], expectNonEmpty: true)
        for bits in [1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31] { try check(["ip:\(v4)/\(bits)"], expectNonEmpty: true) }
        for bits in [33, 48, 64, 96, 127] { try check(["ip:\(v6)/\(bits)"], expectNonEmpty: true) }
        // A range that crosses octet boundaries.
        try check(["ip:100.0.0.0/6"]); try check(["ip:63.255.0.0/15"])
        let dates = Array(Set(truth.map(\.date))).sorted()
        try check(["date:\(dates[1])"], expectNonEmpty: true)
        try check(["since:\(dates[1])"], expectNonEmpty: true)
        try check(["until:\(dates[1])"], expectNonEmpty: true)
        try check(["since:\(dates[0])T12:00:00", "until:\(dates[1])T06:30"], expectNonEmpty: true)
        try check(["since:\(dates[1])", "until:\(dates[0])"], expectNonEmpty: false)
        // AND of terms.
        let s = truth.first { $0.peer != nil && !$0.to.isEmpty }!
        try check(["ip:\(s.peer!)", "to:\(s.to[0])"], expectNonEmpty: true)
        try check(["ip:\(s.peer!)", "date:\(s.date)", "domain:\(s.to[0].split(separator: "@").last!)"], expectNonEmpty: true)
        try check(["ip:0.0.0.0/0", "domain:example.com", "since:\(dates[1])"], expectNonEmpty: true)
    }

    @Test func jsonMatchesTheGroundTruthFieldByField() throws {
        let reader = try IndexReader(directory: Self.fixture.index)
        let truth = Self.fixture.scan.sessions
        let files = Self.fixture.corpus.files
        var random = SeededRandom(seed: 2)
        for _ in 0..<200 {
            let n = random.below(truth.count)
            let t = truth[n]
            let session = try reader.session(UInt64(n))
            let json = SessionView(session: session, sourceName: reader.sourceName).json()
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            #expect(Set(object.keys) == ["date", "line", "start", "end", "complete", "peer", "port", "helo", "from", "to",
                                         "rejected", "messages", "server", "direction", "tls", "auth", "source", "lines"])
            #expect(object["server"] is NSNull)
            #expect(object["direction"] as? String == t.direction)
            #expect(object["tls"] as? Bool == t.tls)
            #expect((object["auth"] as? String) == t.auth)
            #expect(object["date"] as? String == t.date.description)
            #expect(object["line"] as? Int == Int(t.channel.id))
            #expect(object["start"] as? String == t.start)
            #expect((object["end"] as? String) == t.end)
            #expect(object["complete"] as? Bool == t.complete)
            #expect(object["peer"] as? String == t.peer?.description)
            #expect((object["port"] as? Int) == t.port)
            #expect((object["helo"] as? String) == t.helo)
            #expect(object["from"] as? [String] == t.from)
            #expect(object["to"] as? [String] == t.to)
            #expect(object["rejected"] as? [String] == t.rejected)
            #expect(object["messages"] as? [String] == t.messages)
            let source = try #require(object["source"] as? [String: Any])
            #expect(source["file"] as? String == files[t.firstLine.file].name)
            #expect(source["firstLine"] as? Int == Int(t.firstLine.line))
            let lines = try #require(object["lines"] as? [String])
            #expect(lines.count == session.lines.count)
            #expect(lines.first.map { $0.hasPrefix(t.start) } == true)
        }
    }

    @Test func transcriptOfSession509IsTheFixtureBytes() throws {
        let dir = TestData.temporaryDirectory("fixture-idx")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let report = try index([TestData.fixturePath("1999-04-28.log"), TestData.fixturePath("1999-04-29.log")], into: dir)
        #expect(report.errors.isEmpty && report.sessions == 2)
        let reader = try IndexReader(directory: dir)
        let engine = QueryEngine(index: reader)
        let hits = try engine.matches(try Query.parse(["ip:209.162.104.65"]))
        #expect(hits.count == 1)
        #expect(try engine.matches(try Query.parse(["msg:S.0000014724"])) == hits)
        #expect(try engine.matches(try Query.parse(["line:509", "date:1999-04-28"])) == hits)
        #expect(try engine.matches(try Query.parse(["helo:DESK98"])) == hits)
        #expect(try engine.matches(try Query.parse(["to:recipes@hypertouch.com"])).count == 2)
        let s = try reader.session(hits[0])
        var out = [UInt8]()
        SessionView(session: s, sourceName: reader.sourceName).appendTranscript(to: &out, provenance: false, offsets: false)
        let transcriptLines = out.split(separator: 10, omittingEmptySubsequences: false).dropFirst().map(Array.init)
        let fixture = try TestData.fixture("1999-04-28.log")
        var expected = fixture.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        expected.removeLast()  // after the final newline
        expected = expected.filter { l in
            let t = String(bytes: l)
            return !t.contains("SMTP(tcp)") && !t.contains(" SYSTEM") && !t.hasPrefix("0+1 From:")
        }
        #expect(transcriptLines == expected)
        // Every line's recorded offset points at the same bytes in the file.
        for (i, l) in s.lines.enumerated() {
            let o = Int(l.byteOffset)
            #expect(Array(fixture[o..<(o + Int(l.length))]) == Array(s.bytes(ofLine: i)))
        }
        // The SHA-256 recorded at index time is the file's.
        let src = try #require(reader.sources[s.lines[0].source])
        let h = SHA256Hasher(); h.update(fixture)
        #expect(src.sha256 == h.finish())
    }

    @Test func lineIdsCanNameTheirChannelKind() throws {
        // CommuniGate numbers inbound (SMTPI-7) and outbound (SMTP-7) channels apart.
        let work = TestData.temporaryDirectory("kinds")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let log = """
        10:00:00.000 2 SMTPI-7([10.0.0.1]) connected from [10.0.0.1]:1234
        10:00:01.000 4 SMTPI-7([10.0.0.1]) cmd: HELO a.example
        10:00:02.000 2 SMTP-7([10.0.0.2]) connected from [10.0.0.2]:25
        10:00:03.000 2 SMTPI-7([10.0.0.1]) releasing stream
        10:00:04.000 2 SMTP-7([10.0.0.2]) releasing stream

        """
        try Data(log.utf8).write(to: URL(fileURLWithPath: work + "/2026-01-01.log"))
        _ = try index([work + "/2026-01-01.log"], into: work + "/idx")
        let reader = try IndexReader(directory: work + "/idx")
        let engine = QueryEngine(index: reader)
        func peers(_ terms: [String]) throws -> [String] {
            try engine.matches(try Query.parse(terms)).map { try reader.session($0).facts.peer!.description }.sorted()
        }
        #expect(try peers(["line:7"]) == ["10.0.0.1", "10.0.0.2"])
        #expect(try peers(["line:SMTPI-7", "date:2026-01-01"]) == ["10.0.0.1"])
        #expect(try peers(["line:smtp-7"]) == ["10.0.0.2"])
        #expect(try peers(["line:SMTP-7", "line:SMTPI-7"]).isEmpty)
    }

    @Test func longKeysAreCutNotStoredWhole() throws {
        // A 5,000-byte HELO name and address stay findable, but take 256 bytes in the index.
        let work = TestData.temporaryDirectory("long-keys")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let helo = String(repeating: "h", count: 5000), local = String(repeating: "u", count: 5000)
        let log = """
        10:00:00 5 SMTP-9() Stream Created
        10:00:00 4 SMTP-9() Got connection from [10.0.0.9:1957]
        10:00:01 4 SMTP-9([10.0.0.9]) Input Line: HELO \(helo)\\r
        10:00:01 4 SMTP-9(\(helo)) Sending 250 ok\\r\\n
        10:00:02 4 SMTP-9([10.0.0.9]) Input Line: MAIL FROM:<\(local)@example.com>\\r
        10:00:02 4 SMTP-9([10.0.0.9]) Sending 250 <\(local)@example.com> sender accepted\\r\\n
        10:00:03 5 SMTP-9([10.0.0.9]) Stream Disposed
        10:00:04 5 SMTP-8() Stream Created
        10:00:04 4 SMTP-8() Got connection from [10.0.0.8:1957]
        10:00:05 4 SMTP-8([10.0.0.8]) Input Line: HELO \(helo)x\r
        10:00:05 4 SMTP-8(\(helo)x) Sending 250 ok\r\n
        10:00:06 4 SMTP-8([10.0.0.8]) Input Line: MAIL FROM:<\(local)x@example.com>\r
        10:00:06 4 SMTP-8([10.0.0.8]) Sending 250 <\(local)x@example.com> sender accepted\r\n
        10:00:07 5 SMTP-8([10.0.0.8]) Stream Disposed

        """
        try Data(log.utf8).write(to: URL(fileURLWithPath: work + "/2026-01-01.log"))
        _ = try index([work + "/2026-01-01.log"], into: work + "/idx")
        let reader = try IndexReader(directory: work + "/idx")
        let engine = QueryEngine(index: reader)
        // Session 1's keys agree with session 0's on their first 256 bytes (and 4,743 more):
        // the index finds both, the whole keys tell them apart.
        #expect(try engine.matches(try Query.parse(["helo:\(helo)"])) == [0])
        #expect(try engine.matches(try Query.parse(["helo:\(helo)x"])) == [1])
        #expect(try engine.matches(try Query.parse(["from:\(local)@example.com"])) == [0])
        #expect(try engine.matches(try Query.parse(["addr:\(local)x@example.com"])) == [1])
        #expect(try engine.matches(try Query.parse(["domain:example.com"])) == [0, 1])
        #expect(try engine.matches(try Query.parse(["helo:\(helo)y"])).isEmpty)
        #expect(try engine.matches(try Query.parse(["helo:short"])).isEmpty)
        var longest = 0
        for kind in [TermKind.helo, .sender] {
            try reader.segments[0].terms(withPrefix: [kind.rawValue]) { t, _ in longest = max(longest, t.count) }
        }
        #expect(longest == Terms.maxKeyBytes + 1)
    }

    /// Walks the table of kinds (`TermKindInfo.all`): every name and alias parses with
    /// every example, as its kind; every help line is in `Query.syntax`; and the terms the
    /// writer makes of a session are exactly those the query side's keys find for the
    /// session's facts (in every kind, through `Query.parse` and `QueryEngine.lookups`),
    /// with the bytes of FORMAT.md's examples.
    @Test func theTermKindTableIsWhatParsesDocumentsAndLooksUp() throws {
        let table = TermKindInfo.all
        #expect(table.map(\.kind) == QueryKind.allCases)
        let names = table.flatMap(\.names)
        #expect(Set(names).count == names.count && names.allSatisfy { $0 == $0.lowercased() })
        // A stored kind has one encoding, whichever query kind looks it up.
        var encodings = [TermKind: KeyEncoding]()
        for row in table {
            #expect(!row.stored.isEmpty && !row.help.isEmpty, "\(row.kind)")
            for k in row.stored {
                #expect(encodings[k, default: row.encoding] == row.encoding, "\(k)")
                encodings[k] = row.encoding
            }
        }

        /// The kind a one-term query was parsed as.
        func parsedKind(_ q: Query) -> QueryKind? {
            if !q.predicates.isEmpty { return q.predicates.count == 1 ? q.predicates[0].kind : nil }
            switch (q.fromDate != nil, q.toDate != nil) {
            case (true, true): return .date
            case (true, false): return .since
            case (false, true): return .until
            case (false, false): return nil
            }
        }
        let syntaxLines = Query.syntax.split(separator: "\n").map(String.init)
        #expect(syntaxLines.allSatisfy { $0.count <= 78 })  // `query --help` wraps longer ones
        for row in table {
            for name in row.names {
                for help in row.help {
                    for value in help.values {
                        for spelled in [name, name.uppercased()] {
                            #expect(parsedKind(try Query.parse(["\(spelled):\(value)"])) == row.kind, "\(spelled):\(value)")
                        }
                    }
                }
            }
            for help in row.help {
                let shown = help.values.map { "\(row.kind.name):\($0)" }
                #expect(syntaxLines.contains { line in line.hasSuffix(" " + help.meaning) && shown.allSatisfy(line.contains) },
                        "\(shown) \(help.meaning)")
            }
            for value in row.bare {
                #expect(try Query.shape(of: value) == row.kind, "\(value)")
                #expect(parsedKind(try Query.parse([value])) == row.kind, "\(value)")
                #expect(Query.syntax.contains(value))
            }
        }
        do {
            _ = try Query.parse(["rcpt:a@b.c"])
            Issue.record("rcpt: parsed")
        } catch let e as MaildexError {
            #expect(e.message == "`rcpt:a@b.c`: unknown kind `rcpt:` (kinds: ip: addr: from: to: domain: helo: msg: line: auth: tls: status: direction: server: date: since: until:)")
        }

        // A session with every fact the writer indexes: odd addresses, keys past the cut.
        let long = String(repeating: "x", count: 300)
        var facts = SessionFacts()
        facts.peer = IPAddress("1.31.243.190")
        facts.helo = Array("Mail.Example.COM".utf8)
        facts.messages = [Array("S.0000014724".utf8), Array("193024360".utf8), Array(long.utf8)]
        facts.from = [Array("bob@example.org".utf8), []]
        facts.to = [Array("friend0@dom0.example".utf8), Array("a@b@c.example".utf8), Array((long + "@x.example").utf8)]
        facts.rejected = [Array("r@".utf8), Array(("r@" + long).utf8), Array("no-at-sign".utf8)]
        facts.auth = Array("user7@example.com".utf8)
        facts.tls = true
        facts.accepted = true
        let date = CivilDate(iso: "2026-01-01")!
        let batch = TestData.termBatch(of: facts, number: 5, date: date, channel: 101, server: "mx01")
        let written = Set((0..<batch.count).map { Array(batch.term($0)) })
        /// A term for a message: its kind's letter, then its key (bytes as hex, long keys cut).
        func show(_ t: [UInt8]) -> String {
            String(UnicodeScalar(t[0])) + " " + t.dropFirst().prefix(40).map { String($0, radix: 16) }.joined(separator: " ")
        }

        // The bytes of FORMAT.md §7's examples, from the writer and from the query side.
        let golden: [[UInt8]] = [
            [0x49] + [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 0x01, 0x1F, 0xF3, 0xBE],
            [0x4C, 0x00, 0x00, 0x00, 0x65, 0x80, 0x00, 0x4F, 0xE6],
            [0x59, 0x80, 0x00, 0x4F, 0xE6],
            [0x54] + Array("dom0.example@friend0".utf8),
            [0x46] + Array("example.org@bob".utf8),
            [0x46],
            [0x44] + Array("dom0.example".utf8),
            [0x48] + Array("mail.example.com".utf8),
            [0x4D] + Array("s.0000014724".utf8),
        ]
        for g in golden {
            let isWritten = written.contains(g)
            #expect(isWritten, "the writer wrote no \(show(g))")
        }
        #expect(Terms.peer(facts.peer!) == golden[0] && Terms.line(101, date) == golden[1] && Terms.date(date) == golden[2])
        #expect(Terms.date(CivilDate(iso: "1999-04-28")!) == [0x59, 0x80, 0x00, 0x29, 0xD5])
        #expect(Terms.term(.recipient, .addressKey, Array("friend0@dom0.example".utf8)) == golden[3])

        /// The session's values of each kind, as a query would write them.
        func values(of kind: QueryKind) -> [String] {
            func text(_ b: [UInt8]) -> String { b.isEmpty ? "<>" : String(decoding: b, as: UTF8.self) }
            switch kind {
            case .ip: return ["\(facts.peer!)", "\(facts.peer!)/24", "1.31.243.190/32"]
            case .addr: return (facts.from + facts.to + facts.rejected).map { text($0).uppercased() }
            case .from: return facts.from.map(text)
            case .to: return (facts.to + facts.rejected).map(text)
            case .domain: return (facts.from + facts.to + facts.rejected).compactMap { Terms.domain(of: $0).map { text(Array($0)) } }
            case .helo: return [text(facts.helo!)]
            case .msg: return facts.messages.map(text)
            case .line: return ["101", "SMTPI-101"]
            case .auth: return [text(facts.auth!).uppercased()]
            case .tls: return ["yes"]
            case .status: return ["complete", "accepted", "rejected"]
            case .direction: return ["in"]
            case .server: return ["MX01"]
            case .date, .since, .until: return [date.description]
            }
        }
        func finds(_ l: QueryEngine.Lookup, _ term: [UInt8]) -> Bool {
            switch l {
            case .key(let k): return Array(k.prefix(Terms.maxKeyBytes + 1)) == term
            case .range(let lower, let upper):
                return !term.lexicographicallyPrecedes(lower) && !upper.lexicographicallyPrecedes(term)
            }
        }
        var found = Set<[UInt8]>()
        for row in table {
            for name in row.names {
                for value in values(of: row.kind) {
                    // Each value alone, and with the session's date (a line id is then one key).
                    for terms in [["\(name):\(value)"], ["\(name):\(value)", "date:\(date)"]] {
                        let q = try Query.parse(terms)
                        let single = q.fromDate != nil && q.fromDate == q.toDate ? q.fromDate : nil
                        var lookups = q.predicates.map { QueryEngine.lookups($0, date: single) }
                        if q.fromDate != nil || q.toDate != nil {  // as `QueryEngine.matches` looks dates up
                            lookups.append(QueryEngine.dateLookups(q.fromDate ?? CivilDate(daysSinceEpoch: Int32.min + 1),
                                                                   q.toDate ?? CivilDate(daysSinceEpoch: Int32.max - 1)))
                        }
                        for l in lookups {
                            let hits = written.filter { t in l.contains { finds($0, t) } }
                            #expect(!hits.isEmpty, "\(terms) finds no term the writer wrote (\(l.count) lookups)")
                            found.formUnion(hits)
                        }
                    }
                }
            }
        }
        let unfound = written.subtracting(found)
        #expect(unfound.isEmpty, "terms the writer wrote that no query finds: \(unfound.map(show).sorted())")
    }

    @Test func queryParsingErrorsShowTheSyntax() throws {
        for bad in [["nonsense"], ["ip:300.1.1.1"], ["ip:10.0.0.0/33"], ["line:abc"], ["date:2026-13-01"], ["since:2026-01-01T25:00"], [],
                    ["rcpt:user@example.com"], ["Sender:a@b"], ["line:SMTPX-5"], ["line:SMTP-"]] {
            #expect(throws: Query.SyntaxError.self) { try Query.parse(bad) }
        }
        for bad in [["since:T"], ["until:2026-01-01T"], ["since:2026-01-01T-1000000:00"], ["since:2026-01-01T1:2"],
                    ["since:2026-01-01T-9223372036854775808:00"], ["until:2026-01-01T10:60"]] {
            #expect(throws: Query.SyntaxError.self) { try Query.parse(bad) }
        }
        // Time bounds narrow each other whatever their order.
        for terms in [["date:2026-01-01", "since:2026-01-01T21:00"], ["since:2026-01-01T21:00", "date:2026-01-01"]] {
            let q = try Query.parse(terms)
            #expect(q.fromDate == CivilDate(iso: "2026-01-01") && q.fromSecond == 21 * 3600, "\(terms)")
            #expect(q.toDate == CivilDate(iso: "2026-01-01") && q.toSecond == nil, "\(terms)")
        }
        let later = try Query.parse(["since:2026-01-01T10:00", "date:2026-01-03"])
        #expect(later.fromDate == CivilDate(iso: "2026-01-03") && later.fromSecond == nil)
        let minute = try Query.parse(["until:2026-01-02T10:00"])
        #expect(minute.toSecond == Int32(10 * 3600 + 59))
        #expect(try Query.parse(["since:2026-01-01T10:00", "since:2026-01-01T12:00"]).fromSecond == 12 * 3600)
        #expect(try Query.parse(["2001:db8::/32"]).predicates == [.peer(CIDRRange("2001:db8::/32")!)])
        #expect(try Query.parse(["Someone@Example.COM"]).predicates == [.address(Array("someone@example.com".utf8))])
        #expect(try Query.parse(["S.0000014724"]).predicates == [.message(Array("s.0000014724".utf8))])
    }
}
