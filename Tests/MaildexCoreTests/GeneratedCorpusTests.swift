import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

/// Compares parsed sessions with the generator's ground truth, field by field.
func compare(_ parsed: [Session], _ truth: [TruthSession], files: [GeneratedFile], sourceOf: (UInt32) -> Int,
             checkLines: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(parsed.count == truth.count, "session count", sourceLocation: sourceLocation)
    let ordered = truth.sorted { ($0.firstLine.file, $0.firstLine.line) < ($1.firstLine.file, $1.firstLine.line) }
    var failures = 0
    for (p, t) in zip(parsed, ordered) where failures < 5 {
        func check(_ ok: Bool, _ what: String) {
            if !ok { failures += 1; Issue.record("session \(p.number) (line \(t.channel.id), \(t.date) \(t.start)): \(what)", sourceLocation: sourceLocation) }
        }
        func strings(_ a: [[UInt8]]) -> [String] { a.map { String(bytes: $0) } }
        check(p.channel == t.channel, "channel \(p.channel.id) vs \(t.channel.id)")
        check(p.date == t.date, "date \(p.date) vs \(t.date)")
        check(String(bytes: p.start) == t.start, "start \(String(bytes: p.start)) vs \(t.start)")
        check(p.end.map { String(bytes: $0) } == t.end, "end")
        check(p.complete == t.complete, "complete \(p.complete) vs \(t.complete)")
        check(p.facts.peer == t.peer, "peer \(String(describing: p.facts.peer)) vs \(String(describing: t.peer))")
        check(p.facts.port == t.port, "port \(String(describing: p.facts.port)) vs \(String(describing: t.port))")
        check(p.facts.helo.map { String(bytes: $0) } == t.helo, "helo")
        check(strings(p.facts.from) == t.from, "from \(strings(p.facts.from)) vs \(t.from)")
        check(strings(p.facts.to) == t.to, "to \(strings(p.facts.to)) vs \(t.to)")
        check(strings(p.facts.rejected) == t.rejected, "rejected \(strings(p.facts.rejected)) vs \(t.rejected)")
        check(strings(p.facts.messages) == t.messages, "messages")
        check(p.facts.auth.map { String(bytes: $0) } == t.auth, "auth")
        check(p.facts.tls == t.tls, "tls \(p.facts.tls) vs \(t.tls)")
        check(p.facts.direction == t.direction, "direction \(p.facts.direction) vs \(t.direction)")
        check(p.facts.accepted == t.accepted, "accepted \(p.facts.accepted) vs \(t.accepted)")
        if checkLines {
            let lines = p.lines.map { TruthLine(file: sourceOf($0.source), line: $0.lineNumber) }
            check(lines == t.lines, "lines: \(lines.count) vs \(t.lines.count), first difference at \(String(describing: Array(zip(lines, t.lines)).firstIndex { $0.0 != $0.1 }))")
        }
    }
}

@Suite struct GeneratedCorpusTests {
    @Test(arguments: Dialect.allCases)
    func sessionsEqualGroundTruth(dialect: Dialect) throws {
        let (dir, corpus) = try TestData.generate("truth-\(dialect)", dialect: dialect)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (files, errors) = InputFiles.discover([dir])
        #expect(errors.isEmpty)
        #expect(files.map(\.name) == corpus.files.map(\.name))
        // Edge cases the corpus must hold for the comparison to mean something.
        #expect(corpus.sessions.contains { !$0.complete && $0.end == nil })
        #expect(corpus.sessions.contains { $0.from.contains("") }, "null sender")
        #expect(corpus.sessions.contains { !$0.rejected.isEmpty })
        #expect(corpus.sessions.contains { $0.messages.count >= 2 })
        #expect(corpus.sessions.contains { $0.complete && $0.messages.isEmpty })
        #expect(corpus.sessions.contains { t in t.lines.first!.file != t.lines.last!.file }, "a session crosses files")
        let ids = corpus.sessions.map(\.channel)
        if dialect == .stalker { #expect(Set(ids).count < ids.count, "line ids are reused") }

        var read = ReadOptions()
        read.windowSize = 200_000  // many windows per file
        let result = FileSetReader.sessions(of: files, threads: 2, chunkSize: 16_384, read: read)
        #expect(result.errors.isEmpty)
        #expect(result.counts.unparsed == 0)
        #expect(result.counts.lines == corpus.lines)
        compare(result.sessions, corpus.sessions, files: corpus.files, sourceOf: { Int($0) })
    }

    @Test(arguments: CorpusCompression.allCases)
    func compressedCorporaGiveTheSameSessions(compression: CorpusCompression) throws {
        let (dir, corpus) = try TestData.generate("zst-\(compression)", dialect: .cgp, compression: compression,
                                                  days: 1, sessionsPerDay: 300)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (files, _) = InputFiles.discover([dir])
        var read = ReadOptions()
        read.windowSize = 100_000
        let result = FileSetReader.sessions(of: files, threads: 2, chunkSize: 8192, read: read)
        #expect(result.errors.isEmpty, "\(result.errors)")
        if compression == .zstdFrames { #expect(result.summaries.allSatisfy { $0.frames > 2 }) }
        if compression == .zstd { #expect(result.summaries.allSatisfy { $0.frames == 1 }) }
        compare(result.sessions, corpus.sessions, files: corpus.files, sourceOf: { Int($0) })
    }

    @Test(arguments: Dialect.allCases)
    func corporaWrittenInPartsEqualGroundTruth(dialect: Dialect) throws {
        // Four days are written as two parts in parallel; read as one stream they must
        // still give exactly the sessions the generator recorded.
        let (dir, corpus) = try TestData.generate("parts-\(dialect)", dialect: dialect, days: 4, sessionsPerDay: 150)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (files, _) = InputFiles.discover([dir])
        #expect(files.count == corpus.files.count)
        let result = FileSetReader.sessions(of: files, threads: 2, chunkSize: 32_768)
        #expect(result.errors.isEmpty)
        compare(result.sessions, corpus.sessions, files: corpus.files, sourceOf: { Int($0) })
    }

    @Test func oneThreadAndManyChunksAgree() throws {
        let (dir, _) = try TestData.generate("threads", dialect: .stalker, days: 1, sessionsPerDay: 300, recordLines: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (files, _) = InputFiles.discover([dir])
        let one = FileSetReader.sessions(of: files, threads: 1, chunkSize: 1 << 22)
        var small = ReadOptions(); small.windowSize = 50_000
        let many = FileSetReader.sessions(of: files, threads: 2, chunkSize: 1000, read: small)
        #expect(one.sessions.count > 100)
        #expect(one.sessions == many.sessions)
    }

    @Test func generatorIsDeterministic() throws {
        let (a, ca) = try TestData.generate("det-a", dialect: .cgp, days: 1, sessionsPerDay: 200, seed: 42)
        let (b, cb) = try TestData.generate("det-b", dialect: .cgp, days: 1, sessionsPerDay: 200, seed: 42)
        let (c, _) = try TestData.generate("det-c", dialect: .cgp, days: 1, sessionsPerDay: 200, seed: 43)
        defer { for d in [a, b, c] { try? FileManager.default.removeItem(atPath: d) } }
        let name = ca.files[0].name
        let fa = try Data(contentsOf: URL(fileURLWithPath: a + "/" + name))
        let fb = try Data(contentsOf: URL(fileURLWithPath: b + "/" + name))
        let fc = try Data(contentsOf: URL(fileURLWithPath: c + "/" + name))
        #expect(fa == fb)
        #expect(fa != fc)
        #expect(ca.sessions == cb.sessions)
    }
}

@Suite struct ServersAndTrailsTests {
    /// The lines of each session's trail as the index gathers them, against the truth.
    static func expectTrails(_ reader: IndexReader, _ sessions: [Session], _ truth: [TruthSession], files: [GeneratedFile],
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fileOf = Dictionary(uniqueKeysWithValues: files.enumerated().map { ($1.name, $0) })
        let ordered = truth.sorted { ($0.firstLine.file, $0.firstLine.line) < ($1.firstLine.file, $1.firstLine.line) }
        var withTrail = 0, failures = 0
        for (p, t) in zip(sessions, ordered) where failures < 5 {
            let lines = try reader.trail(of: p)?.lines.map { TruthLine(file: fileOf[reader.sourceName($0.source)] ?? -1, line: $0.lineNumber) } ?? []
            if lines != t.messageLines {
                failures += 1
                Issue.record("session \(p.number) (line \(t.channel.id)): trail of \(lines.count) lines vs \(t.messageLines.count)", sourceLocation: sourceLocation)
            }
            if !lines.isEmpty { withTrail += 1 }
        }
        #expect(withTrail > sessions.count / 3, "\(withTrail) of \(sessions.count) sessions have a trail", sourceLocation: sourceLocation)
    }

    @Test(arguments: Dialect.allCases)
    func trailsOfAnIndexEqualTheTruth(dialect: Dialect) throws {
        // Small chunks and windows: a message's records fall in many chunks, files and runs.
        let (logs, corpus) = try TestData.generate("trails-\(dialect)", dialect: dialect, days: 2, sessionsPerDay: 300)
        let dir = TestData.temporaryDirectory("trails-idx")
        defer { for d in [logs, dir] { try? FileManager.default.removeItem(atPath: d) } }
        for f in corpus.files { _ = try index([f.path], into: dir, chunkSize: 8192, windowSize: 100_000) }
        let reader = try IndexReader(directory: dir)
        let sessions = try allSessions(dir)
        let fileOf = Dictionary(uniqueKeysWithValues: corpus.files.enumerated().map { ($1.name, $0) })
        compare(sessions, corpus.sessions, files: corpus.files, sourceOf: { fileOf[reader.sourceName($0)] ?? -1 })
        if dialect == .cgp {
            #expect(corpus.sessions.contains { $0.direction == "out" && $0.complete && $0.accepted })
            #expect(corpus.sessions.contains { $0.direction == "in" && $0.messages.count > 0 && !$0.messageLines.isEmpty })
        }
        try Self.expectTrails(reader, sessions, corpus.sessions, files: corpus.files)
    }

    @Test func twoServersWithTheSameFileNamesAndIdsStayApart() throws {
        // The same seed twice: the same file names, channel ids and queue ids on both.
        let (a, corpus) = try TestData.generate("server-a", dialect: .cgp, days: 2, sessionsPerDay: 250, seed: 31)
        let (b, twin) = try TestData.generate("server-b", dialect: .cgp, days: 2, sessionsPerDay: 250, seed: 31)
        let dir = TestData.temporaryDirectory("servers-idx")
        defer { for d in [a, b, dir] { try? FileManager.default.removeItem(atPath: d) } }
        #expect(corpus.files.map(\.name) == twin.files.map(\.name))
        // Nightly runs, the servers taking turns: each one's open sessions continue in its own next run.
        for k in corpus.files.indices {
            let r1 = try index([corpus.files[k].path], into: dir, server: "mx1")
            let r2 = try index([twin.files[k].path], into: dir, server: "mx2")
            #expect(r1.files == 1 && r2.files == 1, "file \(k): another server's file of the same name is indexed")
        }
        let reader = try IndexReader(directory: dir)
        #expect(reader.manifest.carries.keys.contains("mx1") && reader.manifest.carries.keys.contains("mx2"))
        let searcher = try Searcher(directory: dir)
        let fileOf = Dictionary(uniqueKeysWithValues: corpus.files.enumerated().map { ($1.name, $0) })
        for server in ["mx1", "mx2"] {
            let numbers = try searcher.search(try Query.parse(["server:\(server)"])).numbers
            let sessions = try reader.sessions(numbers)
            #expect(sessions.allSatisfy { reader.server(of: $0) == server })
            compare(sessions, corpus.sessions, files: corpus.files, sourceOf: { fileOf[reader.sourceName($0)] ?? -1 })
            try Self.expectTrails(reader, sessions, corpus.sessions, files: corpus.files)
        }
        // A queue id both servers used: one session on each, each with its own trail.
        let shared = try #require(corpus.sessions.first { $0.messages.count == 1 && !$0.messageLines.isEmpty })
        let both = try reader.sessions(try searcher.search(try Query.parse(["msg:\(shared.messages[0])"])).numbers)
        #expect(Set(both.compactMap(reader.server(of:))) == ["mx1", "mx2"])
        let stats = try searcher.statistics(nil)
        #expect(stats.servers.map(\.name) == ["mx1", "mx2"] && stats.servers.allSatisfy { $0.sessions == corpus.sessions.count })
    }
}
