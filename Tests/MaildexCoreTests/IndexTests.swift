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
func allSessions(_ dir: String, trails: Bool = false) throws -> [Session] {
    let r = try IndexReader(directory: dir)
    var out = [Session]()
    for (i, seg) in r.segments.enumerated() {
        for b in 0..<seg.blockCount { out += try r.sessions(inBlock: b, ofSegment: i, trails: trails) }
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
           mergePolicy: MergePolicy? = nil, server: String? = nil, restSeconds: Int = 0) throws -> Indexer.Report {
    var o = Indexer.Options()
    o.mergePolicy = mergePolicy
    o.server = server
    o.threads = threads
    o.chunkSize = chunkSize
    o.read.windowSize = windowSize
    o.read.maxWindow = maxWindow
    o.read.useMmap = useMmap
    o.read.restSeconds = restSeconds  // 0: the files were just written: map them all the same
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
        // Reading stops at the damaged frame (README, "index"): the message says how much
        // is left unread, and nothing after the frame is indexed.
        let message = r.errors.first?.message ?? ""
        let after = frames.suffix(from: frames.count / 2)
        #expect(message.contains("reading stops here: frame \(frames.count / 2 + 1) of \(frames.count)"), "\(message)")
        #expect(message.contains("\(after.reduce(0) { $0 + $1.contentSize! }) bytes of log text"), "\(message)")
        let kept = try allSessions(work + "/is-damaged")
        #expect(kept.count > 0 && kept.count < reference.count)
        let source = try IndexReader(directory: work + "/is-damaged").sources.values.first { $0.path == victim }
        #expect(source?.partial == true)
        let before = UInt64(frames.prefix(frames.count / 2).reduce(0) { $0 + $1.contentSize! })
        #expect(source?.plainBytes == before)
        #expect(kept.allSatisfy { s in s.lines.allSatisfy { $0.source != source!.id || $0.byteOffset < before } })
        // Indexed again, the file is not read a second time: its sessions are in the index.
        let again = try index([work + "/s"], into: work + "/is-damaged", windowSize: 200_000)
        #expect(again.files == 0 && again.notes.contains { $0.contains("indexed in part only") })
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
            // The message trails: cut into other pieces by other chunks, but the same lines
            // for each message id.
            func trailLines(_ trails: [Session]) -> [UInt64: [String]] {
                var out = [UInt64: [String]]()
                for t in trails {
                    let keys = SessionRules.messageKeys(of: t)
                    for (i, l) in t.lines.enumerated() {
                        out[keys[i] ?? 0, default: []].append("\(l.source):\(l.lineNumber):\(String(decoding: t.bytes(ofLine: i), as: UTF8.self))")
                    }
                }
                return out.mapValues { $0.sorted() }
            }
            let storedTrails = try allSessions(dir, trails: true).filter(\.channel.isTrail)
            #expect(!storedTrails.isEmpty && !read.trails.isEmpty)
            #expect(trailLines(storedTrails) == trailLines(read.trails), "\(dialect) trails")
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
        // The message trails too: their rows and their terms are in the same tables.
        let sessions = try allSessions(dir, trails: true)
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
        #expect(seg.trailCount > 0 && seg.sessionCount == sessions.count { !$0.channel.isTrail })
        for i in 0..<seg.entryCount {
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
}
