import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

/// Every session of an index, by number.
func allSessions(_ dir: String) throws -> [Session] {
    let r = try IndexReader(directory: dir)
    var out = [Session]()
    for (i, seg) in r.segments.enumerated() {
        for b in 0..<seg.blockCount { out += try r.sessions(inBlock: b, ofSegment: i) }
    }
    return out.sorted { $0.number < $1.number }
}

/// Sessions with source ids replaced by file names, so indexes of differently named
/// copies of the same logs compare equal.
func comparable(_ sessions: [Session], _ dir: String) throws -> [String] {
    let r = try IndexReader(directory: dir)
    return sessions.map { s in
        let view = SessionView(session: s, sourceName: { r.sourceName($0).replacingOccurrences(of: ".zst", with: "") })
        return view.json() + view.transcript(provenance: true)
    }
}

func index(_ paths: [String], into dir: String, threads: Int = 2, chunkSize: Int = 1 << 20, windowSize: Int = 64 << 20,
           maxWindow: Int = SourceReader.maxWindow, useMmap: Bool = true,
           postingsLimit: Int = 24_000_000, date: CivilDate? = nil,
           wholeFrameLimit: Int = ReadOptions().wholeFrameLimit, streamHeadroom: Int = ReadOptions().streamHeadroom,
           mergePolicy: MergePolicy? = nil) throws -> Indexer.Report {
    var o = Indexer.Options()
    o.mergePolicy = mergePolicy
    o.threads = threads
    o.chunkSize = chunkSize
    o.read.windowSize = windowSize
    o.read.maxWindow = maxWindow
    o.read.useMmap = useMmap
    o.read.wholeFrameLimit = wholeFrameLimit
    o.read.streamHeadroom = streamHeadroom
    o.segmentPostingsLimit = postingsLimit
    o.defaultDate = date
    return try Indexer.run(directory: dir, paths: paths, options: o)
}

/// Expects two lists to be equal, reporting only the first difference (short).
func expectSame(_ a: [String], _ b: [String], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    if a == b { return }
    if a.count != b.count { Issue.record("\(what): \(a.count) vs \(b.count) items", sourceLocation: sourceLocation); return }
    let i = a.indices.first { a[$0] != b[$0] }!
    let x = Array(a[i].utf8), y = Array(b[i].utf8)
    let j = zip(x, y).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(x.count, y.count)
    func around(_ v: [UInt8]) -> String { String(decoding: v[max(0, j - 150)..<min(v.count, j + 150)], as: UTF8.self) }
    Issue.record("\(what): item \(i) differs at byte \(j):\n\(around(x))\n---\n\(around(y))", sourceLocation: sourceLocation)
}

let probeQueries: [[String]] = [
    ["ip:0.0.0.0/0"], ["ip:::/0"], ["ip:64.0.0.0/2"], ["domain:example.com"], ["to:user1@example.com"],
    ["from:<>"], ["date:2026-03-29"], ["since:2026-03-28T12:00:00", "until:2026-03-29T06:00"], ["line:120"],
]

@Suite(.serialized) struct IndexTests {
    @Test func plainSingleFrameAndMultiFrameGiveIdenticalIndexes() throws {
        var results = [[String]]()
        var answers = [[[UInt64]]]()
        var dirs = [String]()
        defer { for d in dirs { try? FileManager.default.removeItem(atPath: d) } }
        for (compression, threads, chunk, window) in [(CorpusCompression.none, 2, 1 << 20, 64 << 20),
                                                      (.none, 1, 1 << 22, 64 << 20),
                                                      (.none, 2, 2048, 100_000),
                                                      (.zstd, 2, 8192, 150_000),
                                                      (.zstdFrames, 2, 4096, 64 << 20)] {
            let (logs, corpus) = try TestData.generate("idx-\(compression)", dialect: .cgp, compression: compression,
                                                       days: 2, sessionsPerDay: 300, recordLines: false)
            let dir = TestData.temporaryDirectory("index")
            dirs += [logs, dir]
            let report = try index([logs], into: dir, threads: threads, chunkSize: chunk, windowSize: window)
            #expect(report.errors.isEmpty, "\(report.errors)")
            #expect(report.files == corpus.files.count)
            #expect(report.sessions == UInt64(corpus.sessions.count))
            results.append(try comparable(try allSessions(dir), dir))
            let engine = QueryEngine(index: try IndexReader(directory: dir))
            answers.append(try probeQueries.map { try engine.matches(try Query.parse($0)) })
        }
        for (k, r) in results.enumerated().dropFirst() { expectSame(results[0], r, "configuration \(k)") }
        for a in answers.dropFirst() { #expect(a == answers[0]) }
        #expect(answers[0].contains { $0.count > 100 })
    }

    @Test func archivesWrittenByTheZstdToolsIndexLikeThePlainFiles() throws {
        let tools = ["zstd", "pzstd"].filter { t in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "command -v \(t)"]
            try? p.run(); p.waitUntilExit()
            return p.terminationStatus == 0
        }
        try #require(tools.count == 2, "zstd and pzstd must be installed (scripts/setup.sh installs them)")
        let (logs, _) = try TestData.generate("tools", dialect: .stalker, days: 2, sessionsPerDay: 300, recordLines: false)
        let work = TestData.temporaryDirectory("tools-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: work) }
        func sh(_ command: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            try p.run(); p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(command)")
        }
        // pzstd (independent frames behind skippable headers), zstd (one frame, no size
        // with --no-content-size), and frames concatenated by cat.
        try sh("mkdir -p \(work)/p \(work)/z \(work)/c && cd \(logs) && for f in *.log; do pzstd -q -p 2 $f -o \(work)/p/$f.zst; zstd -q --no-content-size $f -o \(work)/z/$f.zst; head -c 300000 $f | zstd -q > \(work)/c/$f.zst; tail -c +300001 $f | zstd -q >> \(work)/c/$f.zst; done")
        // Frames that all record their size (each 40 KB piece compressed from a file, cut
        // anywhere in a line): a batch of them is decompressed straight into its window.
        try sh("mkdir -p \(work)/s \(work)/x && cd \(logs) && for f in *.log; do rm -f \(work)/x/*; split -b 40000 $f \(work)/x/p.; for x in \(work)/x/p.*; do zstd -q -c $x >> \(work)/s/$f.zst; done; done")
        _ = try index([logs], into: work + "/i0")
        let reference = try comparable(try allSessions(work + "/i0"), work + "/i0")
        for sub in ["p", "z", "c", "s"] {
            let r = try index([work + "/" + sub], into: work + "/i" + sub, windowSize: 200_000)
            #expect(r.errors.isEmpty, "\(sub): \(r.errors)")
            expectSame(reference, try comparable(try allSessions(work + "/i" + sub), work + "/i" + sub), sub)
        }
        // A streamed frame's pieces are parsed where they were decompressed, the record
        // left unfinished by the piece (or frame) before copied in front; with less room
        // than that record (none, or 100 bytes), the two are joined in a copy instead.
        // (The concatenated frames, both streamed under a 20 KB limit, meet inside a line.)
        for headroom in [0, 100] {
            let out = work + "/headroom-\(headroom)"
            let r = try index([work + "/c"], into: out, windowSize: 200_000, wholeFrameLimit: 20_000, streamHeadroom: headroom)
            #expect(r.errors.isEmpty, "headroom \(headroom): \(r.errors)")
            expectSame(reference, try comparable(try allSessions(out), out), "streamed, headroom \(headroom)")
        }
        // Frames without a size that are larger than the limit for decompressing a frame
        // whole: found by their compressed size, or only while decompressing, and then
        // streamed; nothing is lost or reported corrupt.
        for limit in [1 << 20, 250_000, 100_000, 20_000] {
            let out = work + "/limit-\(limit)"
            let r = try index([work + "/c"], into: out, windowSize: 200_000, wholeFrameLimit: limit)
            #expect(r.errors.isEmpty, "limit \(limit): \(r.errors)")
            expectSame(reference, try comparable(try allSessions(out), out), "concatenated frames, limit \(limit)")
        }
        // The same, decompressed and parsed on one thread.
        let one = try index([work + "/s"], into: work + "/is-1", threads: 1, windowSize: 200_000)
        #expect(one.errors.isEmpty, "\(one.errors)")
        expectSame(reference, try comparable(try allSessions(work + "/is-1"), work + "/is-1"), "sized frames, 1 thread")
        // A damaged frame among frames of known size: the error names the file and the
        // frame's offset, and what came before the frame is indexed.
        let victim = work + "/s/" + (try FileManager.default.contentsOfDirectory(atPath: work + "/s")).sorted()[0]
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: victim)))
        let frames = bytes.withUnsafeBytes { Zstd.frames($0).frames }
        #expect(frames.count > 20 && frames.allSatisfy { $0.contentSize != nil })
        let damaged = frames[frames.count / 2]
        for k in 0..<64 { bytes[damaged.offset + damaged.compressedSize / 2 - 32 + k] = 0xFF }
        try Data(bytes).write(to: URL(fileURLWithPath: victim))
        let r = try index([work + "/s"], into: work + "/is-damaged", windowSize: 200_000)
        #expect(r.errors.count == 1 && r.errors.contains { $0.description.contains(victim) && $0.description.contains("at byte \(damaged.offset)") },
                "\(r.errors)")
        let kept = try allSessions(work + "/is-damaged")
        #expect(kept.count > 0 && kept.count < reference.count)
        let source = try IndexReader(directory: work + "/is-damaged").sources.values.first { $0.path == victim }
        #expect(source?.partial == true)
        #expect(source?.plainBytes == UInt64(frames.prefix(frames.count / 2).reduce(0) { $0 + $1.contentSize! }))
    }

    @Test func storedSessionsEqualTheSessionsOfASequentialRead() throws {
        // The indexer writes sessions straight from the stitcher's fragments; they must be
        // exactly the `Session` values a plain read of the files builds.
        for dialect in Dialect.allCases {
            let (logs, _) = try TestData.generate("stored-\(dialect)", dialect: dialect, days: 2, sessionsPerDay: 300, recordLines: false)
            let dir = TestData.temporaryDirectory("stored-idx")
            defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
            _ = try index([logs], into: dir, chunkSize: 8192, windowSize: 120_000)
            let (files, _) = InputFiles.discover([logs])
            let read = FileSetReader.sessions(of: files, threads: 1, chunkSize: 1 << 22)
            let stored = try allSessions(dir)
            #expect(stored.count == read.sessions.count)
            for (a, b) in zip(stored, read.sessions) where a != b {
                Issue.record("session \(a.number) differs: \(SessionView(session: a, sourceName: { "\($0)" }).summaryLine()) vs \(SessionView(session: b, sourceName: { "\($0)" }).summaryLine())")
                break
            }
        }
    }

    @Test(arguments: [CorpusCompression.none, .zstd, .zstdFrames], [1, 2])
    func everySourceRecordsTheSHA256OfItsBytes(compression: CorpusCompression, threads: Int) throws {
        // The digest is what proves which file was indexed; it is also what lets a file
        // whose mtime changed (copied, restored) be recognised and skipped.
        let (logs, corpus) = try TestData.generate("sha-\(compression)-\(threads)", dialect: .stalker, compression: compression,
                                                   days: 2, sessionsPerDay: 200, recordLines: false)
        let dir = TestData.temporaryDirectory("sha-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([logs], into: dir, threads: threads)
        let reader = try IndexReader(directory: dir)
        #expect(reader.sources.count == corpus.files.count)
        for src in reader.sources.values {
            let h = SHA256Hasher()
            try MappedFile(path: src.path).withBytes { h.update($0) }
            #expect(src.sha256 == h.finish(), "\(src.name)")
            // A new mtime, the same bytes.
            #expect(utime(src.path, nil) == 0)
        }
        let again = try index([logs], into: dir, threads: threads)
        #expect(again.errors.isEmpty, "\(again.errors)")
        #expect(again.files == 0 && again.skipped == corpus.files.count)
    }

    @Test(arguments: [(true, CorpusCompression.none), (false, .none), (true, .zstd), (false, .zstd)])
    func windowsCutAtTheirLimitLoseNothing(useMmap: Bool, compression: CorpusCompression) throws {
        // No record starts for longer than a window may grow: a run of continuation lines
        // (cut at a line end) and one line longer than a window (cut inside the line). The
        // limit is 1 GiB in use; 64 KiB here. Every line stays in its session, nothing is
        // unparsed, and line numbers and byte offsets stay those of the file.
        let work = TestData.temporaryDirectory("cut")
        defer { try? FileManager.default.removeItem(atPath: work) }
        var text = "10:00:00 5 SMTP-1() Stream Created\n10:00:01 4 SMTP-1([1.2.3.4]) Got connection from [1.2.3.4:25]\n"
        text += "10:00:02 4 SMTP-1([1.2.3.4]) Input Line: DATA\n"
        for i in 0..<3000 { text += "continuation line \(i) of a record that goes on and on and on\n" }
        text += "10:00:03 4 SMTP-1([1.2.3.4]) Input Line: QUIT\n10:00:04 5 SMTP-1([1.2.3.4]) Stream Disposed\n"
        text += "10:00:05 5 SMTP-2() Stream Created\n10:00:06 4 SMTP-2([5.6.7.8]) Got connection from [5.6.7.8:25]\n"
        text += "10:00:07 4 SMTP-2([5.6.7.8]) Input Line: " + String(repeating: "x", count: 200_000) + "\n"
        text += "10:00:08 5 SMTP-2([5.6.7.8]) Stream Disposed\n10:00:09 5 SMTP-3() Stream Created\n"
        let bytes = Array(text.utf8)
        let name = "2026-01-07.log"
        try Data(bytes).write(to: URL(fileURLWithPath: work + "/" + name))
        if compression == .zstd {
            try Data(Zstd.compress(bytes.withUnsafeBytes { $0 }, level: 3)).write(to: URL(fileURLWithPath: work + "/" + name + ".zst"))
            try FileManager.default.removeItem(atPath: work + "/" + name)
        }
        let whole = work + "/whole", cut = work + "/cut"
        let a = try index([work], into: whole, threads: 2, chunkSize: 4096, useMmap: useMmap)
        let b = try index([work], into: cut, threads: 2, chunkSize: 4096, windowSize: 16 << 10, maxWindow: 64 << 10, useMmap: useMmap)
        #expect(a.unparsed == 0 && b.unparsed == 0, "unparsed: \(a.unparsed) whole, \(b.unparsed) cut")
        #expect(a.lines == b.lines && a.sessions == b.sessions, "lines \(a.lines)/\(b.lines), sessions \(a.sessions)/\(b.sessions)")
        let wholeSessions = try allSessions(whole), cutSessions = try allSessions(cut)
        #expect(wholeSessions.count == 3 && cutSessions.count == 3)
        for (w, c) in zip(wholeSessions, cutSessions) {
            // A line cut in two stays two pieces with the line's number, one after the other.
            var joined = [(number: UInt64, bytes: [UInt8])]()
            for (i, l) in c.lines.enumerated() {
                if let last = joined.last, last.number == l.lineNumber { joined[joined.count - 1].bytes += c.bytes(ofLine: i) }
                else { joined.append((l.lineNumber, Array(c.bytes(ofLine: i)))) }
            }
            #expect(joined.map(\.number) == w.lines.map(\.lineNumber), "session \(w.number): line numbers")
            #expect(joined.map(\.bytes) == w.lines.indices.map { Array(w.bytes(ofLine: $0)) }, "session \(w.number): lines")
            #expect(w.complete == c.complete)
            // Shown, the pieces are one line again: the same transcript, offsets and all.
            var tw = [UInt8](), tc = [UInt8]()
            SessionView(session: w, sourceName: { _ in "f" }).appendTranscript(to: &tw, provenance: true, offsets: true)
            SessionView(session: c, sourceName: { _ in "f" }).appendTranscript(to: &tc, provenance: true, offsets: true)
            #expect(tw == tc, "session \(w.number): transcript")
            #expect(SessionView(session: w, sourceName: { _ in "f" }).json() == SessionView(session: c, sourceName: { _ in "f" }).json())
            // Offsets: every whole line's offset points at its bytes in the file.
            for (i, l) in w.lines.enumerated() {
                let o = Int(l.byteOffset)
                #expect(Array(bytes[o..<(o + Int(l.length))]) == Array(w.bytes(ofLine: i)))
            }
            for (i, l) in c.lines.enumerated() where !(c.lines.indices.contains(i - 1) && c.lines[i - 1].lineNumber == l.lineNumber) {
                let o = Int(l.byteOffset)
                #expect(Array(bytes[o..<(o + Int(l.length))]) == Array(c.bytes(ofLine: i)), "session \(c.number) line \(l.lineNumber)")
            }
        }
    }

    @Test func endlessRecordlessStretchesStayBoundedAndCounted() throws {
        // A file that opens with one line longer than a window, before any record: one
        // unparsed line, however many windows it spans. Then a record followed by 70 MB
        // with no record start: its lines go to sessions of at most the size limit
        // (the later ones incomplete), none is lost.
        let work = TestData.temporaryDirectory("stretch")
        defer { try? FileManager.default.removeItem(atPath: work) }
        var bytes = [UInt8](repeating: 120, count: 10_000_000) + [10]
        bytes += Array("10:00:00 5 SMTP-1() Stream Created\n10:00:01 4 SMTP-1([1.2.3.4]) Input Line: DATA\n".utf8)
        let filler = Array("a continuation line with no time in front of it, over and over again\n".utf8)
        let count = (70 << 20) / filler.count
        bytes.reserveCapacity(bytes.count + count * filler.count + 100)
        for _ in 0..<count { bytes += filler }
        bytes += Array("10:00:02 5 SMTP-1([1.2.3.4]) Stream Disposed\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: work + "/2026-01-08.log"))
        let r = try index([work + "/2026-01-08.log"], into: work + "/idx", windowSize: 1 << 20, maxWindow: 4 << 20)
        #expect(r.unparsed == 1, "unparsed \(r.unparsed)")
        #expect(r.lines == UInt64(count + 4))
        let sessions = try allSessions(work + "/idx")
        #expect(sessions.count >= 2)
        #expect(sessions.reduce(0) { $0 + $1.lines.count } == count + 3)
        #expect(sessions.allSatisfy { $0.text.count <= SessionStitcher.maxSessionBytes + (4 << 20) })
        #expect(sessions.first?.lines.first?.lineNumber == 2)
    }

    @Test(arguments: [(1 << 20, 64 << 20), (8192, 100_000)])
    func termDictionaryHoldsEveryTermOfEverySessionAndNothingElse(chunkSize: Int, windowSize: Int) throws {
        // What the front-coded blocks must give back: each term the sessions yield, in
        // byte order, with exactly its sessions (lists and single numbers alike). The
        // expected terms come from the sessions read back from the store (their facts read
        // again from their lines); the dictionary from the facts the indexer collected while
        // parsing and moved out of each session's fragments. Small chunks and windows split
        // most sessions into many fragments, whose facts must join the same way.
        let (logs, _) = try TestData.generate("terms-\(chunkSize)", dialect: .stalker, days: 1, sessionsPerDay: 700, recordLines: false)
        let dir = TestData.temporaryDirectory("terms-idx-\(chunkSize)")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([logs], into: dir, chunkSize: chunkSize, windowSize: windowSize)
        var expected = [[UInt8]: Set<UInt64>]()
        let sessions = try allSessions(dir)
        for s in sessions {
            var batch = TermBatch()
            batch.add(session: SessionRecord(session: s))
            for t in 0..<batch.count { expected[Array(batch.term(t)), default: []].insert(batch.sessions[t]) }
        }
        let reader = try IndexReader(directory: dir)
        #expect(reader.segments.count == 1)
        let seg = reader.segments[0]
        // The session table's rows: start second, message and rejected-recipient counts.
        let byNumber = Dictionary(uniqueKeysWithValues: sessions.map { ($0.number, $0) })
        var rowsChecked = 0
        for i in 0..<seg.sessionCount {
            let e = try seg.entry(at: i)
            guard let s = byNumber[e.number] else { Issue.record("row of an unknown session \(e.number)"); continue }
            #expect(e.startSecond == s.start.withUnsafeBytes { RecordParser.secondOfDay($0) }, "start of \(e.number)")
            #expect((e.flags >> 16) & 0xFF == UInt32(min(255, s.facts.messages.count)), "messages of \(e.number)")
            #expect(e.flags >> 24 == UInt32(min(255, s.facts.rejected.count)), "rejected of \(e.number)")
            rowsChecked += 1
        }
        #expect(rowsChecked == sessions.count)
        var seen = [[UInt8]]()
        try seg.terms(withPrefix: []) { term, count in
            seen.append(term)
            #expect(count == expected[term]?.count, "count of \(String(bytes: term))")
        }
        let sortedExpected = expected.keys.sorted { $0.lexicographicallyPrecedes($1) }
        #expect(seen == sortedExpected)
        #expect(seg.termCount == expected.count)
        #expect(expected.count > 20 * TermDictionary.termsPerBlock)
        #expect(expected.values.contains { $0.count == 1 } && expected.values.contains { $0.count > 1 })
        for (term, sessions) in expected {
            #expect(try seg.lookup(term) == sessions.sorted(), "lookup \(String(bytes: term))")
            if expected[term + [0]] == nil { #expect(try seg.lookup(term + [0]).isEmpty) }
        }
        // A range across many blocks visits its terms in order, with their lists.
        let lower = sortedExpected[5], upper = sortedExpected[sortedExpected.count - 7]
        var visited = [[UInt8]]()
        try seg.lookupRange(lower, upper) { t, list in
            visited.append(t)
            #expect(list == expected[t]!.sorted())
        }
        #expect(visited == Array(sortedExpected[5...(sortedExpected.count - 7)]))
        #expect(try seg.lookup([0]).isEmpty && seg.lookup([0xFF, 0xFF]).isEmpty)
    }

    @Test func lineNumbersAndByteOffsetsPointAtTheLinesInTheirFiles() throws {
        // Offsets come from the files' line tables, which may sit in another segment than
        // the session (a file that spans a segment roll-over), and survive compaction.
        let (logs, corpus) = try TestData.generate("offsets", dialect: .cgp, days: 2, sessionsPerDay: 400, recordLines: false)
        let dir = TestData.temporaryDirectory("offsets-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([logs], into: dir, chunkSize: 4096, windowSize: 100_000, postingsLimit: 3_000)
        #expect(try IndexReader(directory: dir).segments.count > 3)
        let files = Dictionary(uniqueKeysWithValues: try corpus.files.map { ($0.path.split(separator: "/").last.map(String.init)!, try Data(contentsOf: URL(fileURLWithPath: $0.path))) })
        let lineStarts = files.mapValues { data in [0] + data.indices.filter { data[$0] == 10 }.map { $0 + 1 } }
        func check(_ what: String) throws {
            let reader = try IndexReader(directory: dir)
            var checked = 0
            for s in try allSessions(dir) {
                for (i, l) in s.lines.enumerated() {
                    guard let data = files[reader.sourceName(l.source)] else { Issue.record("\(what): unknown source \(l.source)"); return }
                    let start = Int(l.byteOffset), end = start + Int(l.length)
                    guard end <= data.count, Array(data[start..<end]) == Array(s.bytes(ofLine: i)),
                          end == data.count || data[end] == 10, start == 0 || data[start - 1] == 10 else {
                        Issue.record("\(what): session \(s.number) line \(i) is not at byte \(start) of \(reader.sourceName(l.source))")
                        return
                    }
                    // The line number counts the lines before it.
                    if i == 0, let starts = lineStarts[reader.sourceName(l.source)] {
                        #expect(l.lineNumber >= 1 && l.lineNumber <= UInt64(starts.count) && starts[Int(l.lineNumber) - 1] == start)
                    }
                    checked += 1
                }
            }
            #expect(checked > 10_000, "\(what)")
        }
        try check("segments")
        _ = try Compactor.run(directory: dir)
        try check("compacted")
    }

    @Test func rerunSkipsIndexedFilesAndAddsNewOnes() throws {
        let (logs, corpus) = try TestData.generate("rerun", dialect: .stalker, days: 3, sessionsPerDay: 200, recordLines: false)
        let top = TestData.temporaryDirectory("rerun-idx")
        // Under folders that do not exist yet: created as `mkdir -p` would.
        let dir = top + "/archive/2026/idx"
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: top) }
        let first = corpus.files.prefix(2).map(\.path)
        let r1 = try index(first, into: dir)
        #expect(r1.files == 2)
        let again = try index(first, into: dir)
        #expect(again.files == 0 && again.skipped == 2)
        let r2 = try index([logs], into: dir)
        #expect(r2.files == 1 && r2.skipped == 2)
        let reader = try IndexReader(directory: dir)
        #expect(reader.segments.count == 2)
        #expect(reader.sources.count == 3)
        // Numbers continue across runs, and each session is in the index once.
        let numbers = try allSessions(dir).map(\.number)
        #expect(numbers == Array(0..<UInt64(numbers.count)))
        // Compaction keeps every session and answer.
        let before = try comparable(try allSessions(dir), dir)
        let engine = QueryEngine(index: reader)
        let answers = try probeQueries.map { try engine.matches(try Query.parse($0)) }
        let c = try Compactor.run(directory: dir)
        #expect(c.segmentsBefore == 2 && c.segmentsAfter == 1)
        expectSame(before, try comparable(try allSessions(dir), dir), "after compaction")
        let compacted = QueryEngine(index: try IndexReader(directory: dir))
        #expect(try probeQueries.map { try compacted.matches(try Query.parse($0)) } == answers)
        try IndexReader(directory: dir).verifyAll()
    }

    @Test func nightlyRunsGiveTheSameSessionsAsOneBatchRun() throws {
        // Sessions open at midnight continue in the next day's file, even when that
        // file is indexed by a later run.
        for dialect in Dialect.allCases {
            let (logs, corpus) = try TestData.generate("nightly-\(dialect)", dialect: dialect, days: 3, sessionsPerDay: 300, recordLines: false)
            let batch = TestData.temporaryDirectory("batch"), nightly = TestData.temporaryDirectory("nightly")
            defer { for d in [logs, batch, nightly] { try? FileManager.default.removeItem(atPath: d) } }
            _ = try index([logs], into: batch)
            for f in corpus.files { _ = try index([f.path], into: nightly) }
            let reader = try IndexReader(directory: nightly)
            #expect(reader.segments.count == corpus.files.count)
            #expect(reader.manifest.carry != nil)
            let expected = try comparable(try allSessions(batch), batch)
            expectSame(expected, try comparable(try allSessions(nightly), nightly), "\(dialect) nightly runs")
            #expect(reader.sessionCount == expected.count)
            let everything = try Query.parse(["since:2000-01-01"])
            #expect(try QueryEngine(index: reader).matches(everything).count == expected.count)
            // Statistics count each session once, replaced copies excluded.
            #expect(try IndexStatistics.of(reader).json() == IndexStatistics.of(try IndexReader(directory: batch)).json())
            // A session that crossed midnight is whole, under one number.
            let crossing = try allSessions(nightly).first { s in s.complete && Set(s.lines.map(\.source)).count > 1 }
            #expect(crossing != nil)
            // After compaction, still the same.
            _ = try Compactor.run(directory: nightly)
            expectSame(expected, try comparable(try allSessions(nightly), nightly), "\(dialect) compacted")
        }
    }

    @Test func mergePolicyMergesTheNewestTierOnceItIsFull() {
        let p = MergePolicy(factor: 4, floorBytes: 100, maxSegmentBytes: 100_000, maxMergeBytes: 1_000_000)
        #expect(p.tier(0) == 0 && p.tier(99) == 0 && p.tier(100) == 1 && p.tier(399) == 1 && p.tier(400) == 2 && p.tier(1600) == 3)
        #expect(MergePolicy().tier(.max) > 0)
        #expect(p.plan([]) == nil)
        #expect(p.plan([50, 50, 50]) == nil)
        #expect(p.plan([50, 50, 50, 50]) == 0..<4)
        // Only the newest tier and those below it: older, larger segments stay.
        #expect(p.plan([500, 500, 50, 50, 50]) == nil)
        #expect(p.plan([500, 500, 50, 50, 50, 50]) == 2..<6)
        #expect(p.plan([500, 500, 500, 200]) == nil)
        #expect(p.plan([150, 150, 150, 500]) == 0..<4)
        // A segment past the size limit is never merged, nor anything older than it.
        #expect(p.plan([50, 200_000, 50, 50, 50]) == nil)
        #expect(p.plan([200_000, 50, 50, 50, 50]) == 1..<5)
        #expect(p.plan([50, 50, 50, 200_000]) == nil)
        // A segment whose size could not be read counts as too large, and sums do not overflow.
        let unbounded = MergePolicy(factor: 2, floorBytes: 1 << 40, maxSegmentBytes: .max, maxMergeBytes: .max)
        #expect(unbounded.plan([.max, 50, 50]) == 1..<3)
        #expect(unbounded.plan([50, .max]) == nil)
        // At most maxMergeBytes of old segments at once.
        let capped = MergePolicy(factor: 2, floorBytes: 100, maxSegmentBytes: 100_000, maxMergeBytes: 120)
        #expect(capped.plan([50, 50, 50]) == 1..<3)
        #expect(capped.plan([90, 50]) == nil)
    }

    @Test func nightlyRunsMergeTheirSmallSegmentsAndKeepEveryAnswer() throws {
        let (logs, corpus) = try TestData.generate("merge", dialect: .stalker, days: 9, sessionsPerDay: 150, recordLines: false)
        let batch = TestData.temporaryDirectory("merge-batch"), nightly = TestData.temporaryDirectory("merge-nightly")
        defer { for d in [logs, batch, nightly] { try? FileManager.default.removeItem(atPath: d) } }
        _ = try index([logs], into: batch)
        // Tiers of factor 3 whose first bound is twice a day's segment: a day's segment is
        // in tier 0, three days merged are in tier 1, so merges start past older merges.
        var o = Indexer.Options()
        o.mergePolicy = nil
        let r1 = try Indexer.run(directory: nightly, paths: [corpus.files[0].path], options: o)
        o.mergePolicy = MergePolicy(factor: 3, floorBytes: 2 * r1.indexBytes, maxSegmentBytes: .max, maxMergeBytes: .max)
        var counts = [r1.segments]
        var merges = [r1.merged]
        for f in corpus.files.dropFirst() {
            let r = try Indexer.run(directory: nightly, paths: [f.path], options: o)
            counts.append(r.segments)
            merges.append(r.merged)
            let count = try IndexReader(directory: nightly).segments.count
            #expect(r.errors.isEmpty && r.segments == count)
        }
        // Day 3: days 1-3 merge; day 6: days 4-6 merge beside them (a partial merge, after the
        // carry of day 3 into day 4); day 9: days 7-9 merge, and then the three merged
        // segments fill tier 1 and merge into one.
        #expect(counts == [1, 2, 1, 2, 3, 2, 3, 4, 1])
        #expect(merges.map(\.merges) == [0, 0, 1, 0, 0, 1, 0, 0, 2])
        #expect(merges[8].segmentsMerged == 6 && merges[8].segmentsWritten == 2)
        let expected = try comparable(try allSessions(batch), batch)
        expectSame(expected, try comparable(try allSessions(nightly), nightly), "merged nightly runs")
        let merged = try IndexReader(directory: nightly), one = try IndexReader(directory: batch)
        #expect(merged.sessionCount == one.sessionCount)
        #expect(try IndexStatistics.of(merged).json() == IndexStatistics.of(one).json())
        let answers = try probeQueries.map { try QueryEngine(index: one).matches(try Query.parse($0)) }
        #expect(try probeQueries.map { try QueryEngine(index: merged).matches(try Query.parse($0)) } == answers)
        try merged.verifyAll()
        // Without a policy, a run adds its segment and merges nothing.
        o.mergePolicy = nil
        let extra = logs + "/" + corpus.files.last!.date.adding(days: 1).description + ".log"
        try FileManager.default.copyItem(atPath: corpus.files[0].path, toPath: extra)
        let r = try Indexer.run(directory: nightly, paths: [extra], options: o)
        #expect(r.merged.merges == 0 && r.segments == 2)
    }

    @Test(arguments: [24_000_000, 1_000])
    func mergingTheNewestSegmentsKeepsTheCopiesTheyReplace(postingsLimit: Int) throws {
        // Day 1's sessions open at midnight are written incomplete to its segment and
        // replaced by whole copies in day 2's. Merging days 2 and 3 only (into one segment,
        // or split into many) must keep hiding day 1's incomplete copies; and day 4, indexed
        // after the merge, must replace the copies of day 3's open sessions now inside it.
        let (logs, corpus) = try TestData.generate("merge-tail", dialect: .stalker, days: 4, sessionsPerDay: 300, recordLines: false)
        let batch = TestData.temporaryDirectory("tail-batch"), nightly = TestData.temporaryDirectory("tail-nightly")
        defer { for d in [logs, batch, nightly] { try? FileManager.default.removeItem(atPath: d) } }
        _ = try index([logs], into: batch)
        var o = Indexer.Options()
        o.mergePolicy = nil
        for f in corpus.files.prefix(3) { _ = try Indexer.run(directory: nightly, paths: [f.path], options: o) }
        var manifest = try #require(try Manifest.load(directory: nightly))
        #expect(manifest.segments.count == 3)
        let replaced = try SegmentReader.open(nightly + "/" + manifest.segments[1]).replaced()
        #expect(!replaced.isEmpty)
        let size = { (name: String) -> UInt64 in
            UInt64((try? FileManager.default.attributesOfItem(atPath: nightly + "/" + name)[.size] as? Int) ?? 0)
        }
        // Segment 1 does not fit under the byte cap: only 2 and 3 are merged.
        let policy = MergePolicy(factor: 2, floorBytes: 1 << 40, maxSegmentBytes: .max,
                                 maxMergeBytes: size(manifest.segments[1]) + size(manifest.segments[2]))
        let first = manifest.segments[0]
        var r = Compactor.TierReport()
        try Compactor.mergeTiers(directory: nightly, manifest: &manifest, policy: policy, threads: 2,
                                 postingsLimit: postingsLimit, report: &r)
        #expect(r.merges == 1 && r.segmentsMerged == 2)
        #expect(postingsLimit < 1_000_000 ? r.segmentsWritten > 1 : r.segmentsWritten == 1)
        let reader = try IndexReader(directory: nightly)
        #expect(reader.manifest == manifest && manifest.segments.count == 1 + r.segmentsWritten && manifest.segments[0] == first)
        #expect(Set(try SegmentReader.open(nightly + "/" + manifest.segments[1]).replaced()).isSuperset(of: replaced))
        // Nothing is left of the merged segments but the new ones.
        let files = try FileManager.default.contentsOfDirectory(atPath: nightly).filter { $0.hasPrefix("seg-") }
        #expect(Set(files) == Set(manifest.segments))
        _ = try Indexer.run(directory: nightly, paths: [corpus.files[3].path], options: o)
        let expected = try comparable(try allSessions(batch), batch)
        expectSame(expected, try comparable(try allSessions(nightly), nightly), "days 2 and 3 merged, then day 4")
        #expect(try IndexReader(directory: nightly).sessionCount == expected.count)
    }

    @Test func carriedSessionsContinueOnlyIntoFilesThatFollowOn() throws {
        let (logs, corpus) = try TestData.generate("gap", dialect: .stalker, days: 2, sessionsPerDay: 300, recordLines: false)
        let dir = TestData.temporaryDirectory("gap-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        // The second day's file, renamed as if it came two days later: a gap.
        let later = logs + "/" + corpus.files[0].date.adding(days: 2).description + ".log"
        try FileManager.default.moveItem(atPath: corpus.files[1].path, toPath: later)
        _ = try index([corpus.files[0].path], into: dir)
        #expect(try IndexReader(directory: dir).manifest.carry != nil)
        _ = try index([later], into: dir)
        let reader = try IndexReader(directory: dir)
        let first = try #require(reader.sources.values.first { $0.name == corpus.files[0].name }).id
        let second = try #require(reader.sources.values.first { $0.path == later }).id
        // No session joins lines of both files across the gap.
        #expect(!(try allSessions(dir)).contains { s in
            let sources = Set(s.lines.map(\.source))
            return sources.contains(first) && sources.contains(second)
        })
        // Without the gap (same files, next day), sessions do continue.
        let dir2 = TestData.temporaryDirectory("nogap-idx")
        defer { try? FileManager.default.removeItem(atPath: dir2) }
        let next = logs + "/" + corpus.files[0].date.adding(days: 1).description + ".log"
        try FileManager.default.moveItem(atPath: later, toPath: next)
        _ = try index([corpus.files[0].path], into: dir2)
        _ = try index([next], into: dir2)
        #expect((try allSessions(dir2)).contains { Set($0.lines.map(\.source)).count == 2 })
    }

    @Test func smallSegmentLimitSplitsSegmentsWithTheSameAnswers() throws {
        let (logs, _) = try TestData.generate("split", dialect: .stalker, days: 2, sessionsPerDay: 300, recordLines: false)
        let one = TestData.temporaryDirectory("one"), many = TestData.temporaryDirectory("many")
        defer { for d in [logs, one, many] { try? FileManager.default.removeItem(atPath: d) } }
        _ = try index([logs], into: one)
        _ = try index([logs], into: many, postingsLimit: 1000)
        #expect(try IndexReader(directory: many).segments.count > 1)
        expectSame(try comparable(try allSessions(one), one), try comparable(try allSessions(many), many), "split segments")
    }

    @Test func manySegmentsEndARunWithANoteToCompact() throws {
        let (logs, _) = try TestData.generate("hint", dialect: .stalker, days: 3, sessionsPerDay: 100, recordLines: false)
        let dir = TestData.temporaryDirectory("hint-idx")
        defer { for d in [logs, dir] { try? FileManager.default.removeItem(atPath: d) } }
        let files = try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasSuffix(".log") }.sorted()
        var notes = [[String]]()
        for f in files {
            var o = Indexer.Options()
            o.compactHintSegments = 3
            notes.append(try Indexer.run(directory: dir, paths: [logs + "/" + f], options: o).notes)
        }
        // One segment per nightly run: the third run names compact; the first two do not.
        #expect(notes.count == 3)
        #expect(!notes[0].contains { $0.contains("maildex compact") } && !notes[1].contains { $0.contains("maildex compact") })
        #expect(notes[2].contains { $0.contains("3 segments") && $0.contains("maildex compact --index \(shellQuoted(dir))") }, "\(notes[2])")
        // The command it names works as written in a shell, whatever the path.
        #expect(shellQuoted("/srv/maildex") == "/srv/maildex")
        #expect(shellQuoted("/srv/mail index") == "'/srv/mail index'")
        #expect(shellQuoted("/srv/it's") == "'/srv/it'\\''s'")
        _ = try Compactor.run(directory: dir)
        var o = Indexer.Options()
        o.compactHintSegments = 3
        #expect(!(try Indexer.run(directory: dir, paths: [logs], options: o).notes.contains { $0.contains("maildex compact") }))
    }

    @Test func batchedFetchesAreBoundedAndGiveEverySessionInOrder() throws {
        let (logs, _) = try TestData.generate("batches", dialect: .stalker, days: 2, sessionsPerDay: 300, recordLines: false)
        let dir = TestData.temporaryDirectory("batches-idx")
        defer { for d in [logs, dir] { try? FileManager.default.removeItem(atPath: d) } }
        _ = try index([logs], into: dir, postingsLimit: 1000)
        let reader = try IndexReader(directory: dir)
        #expect(reader.segments.count > 1)
        let every = try allSessions(dir)
        // Every other session, newest first: batches must keep the order asked.
        let numbers = every.map(\.number).enumerated().filter { $0.offset % 2 == 0 }.map(\.element).reversed()
        let expected = try comparable(try reader.sessions(Array(numbers)), dir)
        for (maxSessions, maxBytes) in [(7, 1), (512, 64 << 20), (3, 600 << 10)] {
            var got = [Session](), batches = 0
            try reader.forEachBatch(Array(numbers), maxSessions: maxSessions, maxBytes: maxBytes) { first, batch in
                #expect(first == got.count)
                #expect(!batch.isEmpty && batch.count <= maxSessions)
                var blocks = Set<String>(), bytes = 0
                for s in batch {
                    let (seg, e) = try #require(try reader.entry(s.number))
                    if blocks.insert("\(seg)/\(e.block)").inserted { bytes += try reader.segments[seg].blockLocation(Int(e.block)).plain }
                }
                // Past its first block, a batch stays within the byte bound.
                #expect(blocks.count == 1 || bytes <= maxBytes, "batch of \(bytes) bytes over \(blocks.count) blocks")
                got += batch; batches += 1
            }
            expectSame(try comparable(got, dir), expected, "batches of \(maxSessions) / \(maxBytes) bytes")
            if maxSessions == 7 { #expect(batches >= numbers.count / 7) }
        }
    }

    /// With `merge`, the run then merges its segment with the first one and unlinks both:
    /// readers see the old state, the run's, or the merged one (the same sessions), and
    /// a reader opened before still reads the unlinked segment it mapped.
    @Test(arguments: [false, true])
    func readersSeeTheOldOrTheNewStateWhileARunAddsFiles(merge: Bool) throws {
        let (logs, corpus) = try TestData.generate("concurrent", dialect: .stalker, days: 3, sessionsPerDay: 400, recordLines: false)
        let dir = TestData.temporaryDirectory("concurrent-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([corpus.files[0].path], into: dir)
        let old = try IndexReader(directory: dir)
        let oldCount = old.sessionCount
        let everything = try Query.parse(["since:2000-01-01"])
        let oldAnswer = try QueryEngine(index: old).matches(everything)
        let done = DispatchSemaphore(value: 0)
        let box = UncheckedBox(dir)
        let paths = UncheckedBox(corpus.files.map(\.path))
        let policy = merge ? MergePolicy(factor: 2, floorBytes: 1 << 40, maxSegmentBytes: .max, maxMergeBytes: .max) : nil
        final class ReportBox: @unchecked Sendable { var value: Indexer.Report? }
        let report = ReportBox()
        DispatchQueue.global().async {
            report.value = try? index(paths.value, into: box.value, threads: 1, chunkSize: 4096, mergePolicy: policy)
            done.signal()
        }
        var seen = Set<Int>()
        var finished = false
        while !finished {
            finished = done.wait(timeout: .now()) == .success
            let r = try IndexReader(directory: dir)
            seen.insert(r.sessionCount)
            #expect(try QueryEngine(index: r).matches(everything).count == r.sessionCount)
        }
        let final = try IndexReader(directory: dir).sessionCount
        #expect(final > oldCount)
        #expect(seen.isSubset(of: [oldCount, final]), "\(seen)")
        #expect(report.value?.merged.merges == (merge ? 1 : 0))
        #expect(try IndexReader(directory: dir).segments.count == (merge ? 1 : 2))
        // The reader opened before the run still answers from the old state.
        #expect(try QueryEngine(index: old).matches(everything) == oldAnswer)
    }

    /// Rewrites one section of a segment with `edit` and makes its checksums right
    /// again, as a forger would.
    func forge(_ path: String, _ section: SegmentFormat.Section, _ edit: (inout [UInt8], _ start: Int, _ length: Int) -> Void) throws {
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func u32(_ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24 }
        func u64(_ at: Int) -> Int { u32(at) | u32(at + 4) << 32 }
        func put32(_ v: UInt32, _ at: Int) { for k in 0..<4 { b[at + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) } }
        let footerLength = u32(b.count - 16), footer = b.count - 16 - footerLength
        let entry = footer + 8 + 32 * section.rawValue
        let offset = u64(entry), length = u64(entry + 8), table = u64(entry + 16)
        edit(&b, offset, length)
        let pages = (length + 4095) / 4096
        for page in 0..<pages {
            let start = offset + page * 4096
            put32(CRC32C.checksum(Array(b[start..<min(offset + length, start + 4096)])), table + 4 * page)
        }
        put32(CRC32C.checksum(Array(b[table..<(table + 4 * pages)])), entry + 24)
        put32(CRC32C.checksum(Array(b[footer..<(b.count - 16)])), b.count - 12)
        try Data(b).write(to: URL(fileURLWithPath: path))
    }

    @Test func aMergeThatFailsLeavesTheRunIndexedAndSaysSo() throws {
        let (logs, corpus) = try TestData.generate("merge-fail", dialect: .stalker, days: 3, sessionsPerDay: 150, recordLines: false)
        let dir = TestData.temporaryDirectory("merge-fail-idx")
        defer { for d in [logs, dir] { try? FileManager.default.removeItem(atPath: d) } }
        var o = Indexer.Options()
        o.mergePolicy = nil
        for f in corpus.files.prefix(2) { _ = try Indexer.run(directory: dir, paths: [f.path], options: o) }
        // A byte in a block of the first segment's store goes bad: the segment opens (the
        // store has a checksum per block, not per page), and the merge fails reading it.
        let first = dir + "/" + (try #require(try Manifest.load(directory: dir))).segments[0]
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: first)))
        bytes[SegmentFormat.headerSize + 200] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: first))
        o.mergePolicy = MergePolicy(factor: 3, floorBytes: 1 << 40, maxSegmentBytes: .max, maxMergeBytes: .max)
        let r = try Indexer.run(directory: dir, paths: [corpus.files[2].path], options: o)
        #expect(r.files == 1 && r.merged.merges == 0)
        #expect(r.errors.count == 1 && r.errors.first?.description.contains("merging the newest segments") == true, "\(r.errors)")
        // The run's own segment is in the index, beside the two older ones.
        let reader = try IndexReader(directory: dir)
        #expect(reader.segments.count == 3 && r.segments == 3)
        #expect(reader.sources.values.contains { $0.name == corpus.files[2].name })
        let day3 = try Query.parse(["date:\(corpus.files[2].date)"])
        #expect(!(try QueryEngine(index: reader).matches(day3)).isEmpty)
    }

    @Test func aSegmentForgedWithValidChecksumsIsAnErrorNotACrash() throws {
        // Checksums catch damage; a file forged with correct checksums must still be
        // refused by the readers' own bounds checks.
        let (logs, _) = try TestData.generate("forged", dialect: .stalker, days: 1, sessionsPerDay: 200, recordLines: false)
        let dir = TestData.temporaryDirectory("forged-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([logs], into: dir)
        let before = try IndexReader(directory: dir)
        let sender = try IndexStatistics.of(before).topSenders.first { $0.0 != "<>" }!.0
        let path = dir + "/" + before.manifest.segments[0]
        let pristine = try Data(contentsOf: URL(fileURLWithPath: path))

        // 1. Every term block claims its postings start past the end of everything.
        try forge(path, .termEntries) { b, start, length in
            for block in 0..<((length - 16) / 16) { for k in 0..<8 { b[start + 24 + 16 * block + k] = 0xFF } }
        }
        var reader = try IndexReader(directory: dir)
        let engine = QueryEngine(index: reader)
        #expect(throws: IndexError.self) { try engine.matches(try Query.parse(["from:\(sender)"])) }
        #expect(throws: IndexError.self) { try IndexStatistics.of(reader) }
        #expect(throws: IndexError.self) { try reader.verifyAll() }

        // 2. The first term with a postings list claims more sessions than its list has bytes.
        try pristine.write(to: URL(fileURLWithPath: path))
        var forged = false
        try forge(path, .termBytes) { b, start, length in
            var at = start
            func varint() -> UInt64 {
                var v: UInt64 = 0, shift: UInt64 = 0
                while true { let c = b[at]; at += 1; v |= UInt64(c & 0x7F) << shift; if c < 0x80 { return v }; shift += 7 }
            }
            while at < start + length {
                _ = varint(); let suffix = varint(); at += Int(suffix)
                let codeAt = at, code = varint()
                if code & 1 == 1 { continue }
                _ = varint()
                if at - codeAt >= 2, b[codeAt] < 0x80 { b[codeAt] = 0x7E; forged = true; return }  // count 63
            }
        }
        #expect(forged)
        reader = try IndexReader(directory: dir)
        #expect(throws: IndexError.self) { try reader.segments[0].terms(withPrefix: []) { _, _ in } }
        #expect(throws: IndexError.self) { try reader.verifyAll() }

        // 3. The line table claims more lines than its blocks hold: fetching a session says so.
        try pristine.write(to: URL(fileURLWithPath: path))
        try forge(path, .lineTables) { b, start, _ in
            let table = start + 4 + 24 * Int(b[start])   // the first table, after the directory
            for k in 0..<8 { b[table + 4 + k] = k == 7 ? 0x7F : 0xFF }  // u64 lines
        }
        reader = try IndexReader(directory: dir)
        #expect(throws: IndexError.self) { try reader.session(0) }
        #expect(throws: IndexError.self) { try reader.verifyAll() }

        // 4. The line table claims one line more than its last block holds lengths for,
        //    still within its blocks' room: verify decodes every block whole and says so.
        try pristine.write(to: URL(fileURLWithPath: path))
        var claimed = 0
        try forge(path, .lineTables) { b, start, _ in
            let table = start + 4 + 24 * Int(b[start])
            var lines = 0
            for k in 0..<8 { lines |= Int(b[table + 4 + k]) << (8 * k) }
            let perBlock = Int(b[table + 12]) | Int(b[table + 13]) << 8 | Int(b[table + 14]) << 16
            guard lines % perBlock != 0 else { return }
            lines += 1; claimed = lines
            for k in 0..<8 { b[table + 4 + k] = UInt8(truncatingIfNeeded: lines >> (8 * k)) }
        }
        try #require(claimed > 0, "the first file's line count is a multiple of the block size")
        reader = try IndexReader(directory: dir)
        #expect(throws: IndexError.self) { try reader.verifyAll() }
    }

    @Test func aFlippedByteIsRefused() throws {
        let (logs, _) = try TestData.generate("flip", dialect: .cgp, days: 1, sessionsPerDay: 200, recordLines: false)
        let dir = TestData.temporaryDirectory("flip-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([logs], into: dir)
        let reader = try IndexReader(directory: dir)
        try reader.verifyAll()
        let segment = dir + "/" + reader.manifest.segments[0]
        let original = try Data(contentsOf: URL(fileURLWithPath: segment))
        var random = SeededRandom(seed: 3)
        var positions = [0, 9, original.count - 1, original.count - 20, original.count / 2]
        for _ in 0..<25 { positions.append(random.below(original.count)) }
        for pos in positions {
            var bytes = original
            bytes[pos] ^= UInt8(1 << random.below(8))
            try bytes.write(to: URL(fileURLWithPath: segment))
            var refused = false
            do {
                let r = try IndexReader(directory: dir)
                try r.verifyAll()
            } catch let e as IndexError {
                refused = true
                #expect(e.description.contains(segment) || e.description.contains("seg-"), "\(e)")
            }
            #expect(refused, "byte \(pos) of \(original.count)")
        }
        try original.write(to: URL(fileURLWithPath: segment))
        try IndexReader(directory: dir).verifyAll()
        // The manifest too.
        let manifest = dir + "/MANIFEST"
        var m = try Data(contentsOf: URL(fileURLWithPath: manifest))
        m[20] ^= 4
        try m.write(to: URL(fileURLWithPath: manifest))
        #expect(throws: IndexError.self) { try IndexReader(directory: dir) }
    }

    @Test func badFilesAreReportedAndTheRestIndexed() throws {
        let (logs, corpus) = try TestData.generate("bad", dialect: .stalker, compression: .zstdFrames, days: 2,
                                                   sessionsPerDay: 200, recordLines: false)
        let dir = TestData.temporaryDirectory("bad-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        // Truncate the second day's archive in the middle of a frame.
        let victim = corpus.files[1].path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        bytes = bytes.prefix(bytes.count * 2 / 3)
        try bytes.write(to: URL(fileURLWithPath: victim))
        // A file whose name has no date, and one that is not zstd at all.
        try Data("10:00:00 5 SMTP-1() Stream Created\n".utf8).write(to: URL(fileURLWithPath: logs + "/current.log"))
        try Data("not zstd".utf8).write(to: URL(fileURLWithPath: logs + "/2026-03-30.log.zst"))
        let report = try index([logs], into: dir)
        let text = report.errors.map(\.description)
        #expect(text.contains { $0.contains(victim) && $0.contains("at byte") }, "\(text)")
        #expect(text.contains { $0.contains("current.log") && $0.contains("no date") }, "\(text)")
        #expect(text.contains { $0.contains("2026-03-30.log.zst") }, "\(text)")
        #expect(report.files >= 2)
        let reader = try IndexReader(directory: dir)
        #expect(reader.sessionCount > 200)
        // The frames of the truncated archive before the damage are indexed, and their
        // lines' byte offsets resolve from the line table written for the part read.
        let victimID = reader.sources.first { $0.value.path == victim }?.key
        #expect(victimID != nil)
        let stored = try allSessions(dir)
        #expect(stored.contains { s in s.lines.contains { $0.source == victimID } })
        // The truncated archive is recorded as read in part; the file that gave nothing
        // is not recorded at all.
        #expect(reader.sources[victimID!]?.partial == true)
        #expect(reader.sources.values.filter(\.partial).count == 1)
        #expect(!reader.sources.values.contains { $0.name.hasPrefix("2026-03-30") })
        // A rerun does not index the part read a second time (it says so), and tries the
        // file that gave nothing again.
        let rerun = try index([logs], into: dir)
        #expect(rerun.notes.contains { $0.contains(victim) && $0.contains("in part") }, "\(rerun.notes)")
        #expect(rerun.errors.contains { $0.description.contains("2026-03-30.log.zst") }, "\(rerun.errors)")
        #expect(try IndexReader(directory: dir).sessionCount == reader.sessionCount)
        // With --date, the undated file is indexed.
        let again = try index([logs + "/current.log"], into: dir, date: CivilDate(iso: "2026-04-01"))
        #expect(again.errors.isEmpty && again.files == 1)
    }
}
