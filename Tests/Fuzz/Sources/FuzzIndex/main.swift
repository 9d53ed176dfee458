import Foundation
import FuzzSupport
import MaildexCore

/// Any bytes as a day's log, indexed in small windows and chunks: the index verifies,
/// gives back the sessions of one sequential read byte for byte (the store, the line
/// table's offsets, the session table), each session is found again by its line id, peer,
/// senders, recipients and message ids, and a second run over the same file adds nothing.
/// One input in three is indexed as a log that grows: its start, then the whole of it.
func fuzzIndex(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    var knobs = Fuzz.Knobs(bytes)
    let reference = Fuzz.reference(bytes).sessions

    let logs = Fuzz.write(bytes, as: Fuzz.fileName, in: "logs")
    let dir = Fuzz.scratch + "/index"
    try? FileManager.default.removeItem(atPath: dir)
    var o = Indexer.Options()
    o.threads = knobs.next(1...2)
    o.chunkSize = knobs.next(1...400)
    o.read.windowSize = knobs.size(64...4096, small: 1...64)
    o.read.maxWindow = knobs.size(512...8192, small: 2...512)
    o.read.useMmap = knobs.next(0...1) == 0
    o.read.restSeconds = 0  // map the file just written
    o.mergePolicy = nil
    // One time in three the log is indexed while it grows: its first `cut` bytes (still
    // being written: read up to their last line end), then the whole file, read on from
    // there (`ReadStart`).
    let grow = knobs.next(0...2) == 0
    let cut = knobs.next(0...bytes.count)
    var how = "\(o.threads) threads, chunks of \(o.chunkSize), windows \(o.read.windowSize)/\(o.read.maxWindow), mmap \(o.read.useMmap)"
    if grow { how += ", grown after \(cut) bytes" }
    do {
        var report: Indexer.Report
        // Where the first run of a grown file stopped (its record's size).
        var held = 0
        if grow {
            _ = Fuzz.write(Array(bytes[..<cut]), as: Fuzz.fileName, in: "logs")
            var first = o
            first.read.restSeconds = 600
            let r1 = try Indexer.run(directory: dir, paths: [logs], options: first)
            Fuzz.require(r1.errors.isEmpty, "\(how), the first part: \(r1.errors)")
            held = Int(try IndexReader(directory: dir).sources.values.map(\.size).max() ?? 0)
            Fuzz.require(held <= cut, "\(how): the first run read \(held) bytes of \(cut)")
            _ = Fuzz.write(bytes, as: Fuzz.fileName, in: "logs")
            report = try Indexer.run(directory: dir, paths: [logs], options: o)
            Fuzz.require(report.files == 1 || cut == bytes.count, "\(how): the grown file was not read on: \(report.notes)")
            report.sessions += r1.sessions
        } else {
            report = try Indexer.run(directory: dir, paths: [logs], options: o)
        }
        Fuzz.require(report.errors.isEmpty, "\(how): \(report.errors)")

        let index = try IndexReader(directory: dir)
        try index.verifyAll()
        var stored = [Session]()
        for (i, segment) in index.segments.enumerated() {
            for b in 0..<segment.blockCount { stored += try index.sessions(inBlock: b, ofSegment: i) }
        }
        stored.sort { $0.number < $1.number }
        // Fetched by number, as a query's answer is, with byte offsets from the line table.
        let fetched = try index.sessions(stored.map(\.number))
        Fuzz.same(fetched, stored, "sessions fetched by number, \(how)")
        // Windows cut where no record begins differ from one read (see `mayCutOutsideARecord`);
        // so does a file that grew where no record begins (the lines after the cut continue
        // nothing of the part before; a first run stops at its last record's start, but for
        // a stretch of half a window without one).
        let grewAtARecord = !grow || held == 0 || held == bytes.count || bytes.withUnsafeBytes {
            RecordBoundaries.nextRecordStart($0, from: held) == held
        }
        let cut = Fuzz.mayCutOutsideARecord(bytes, maxWindow: o.read.maxWindow) || !grewAtARecord
        if !cut {
            // The second part of a grown file has a source id of its own.
            func oneSource(_ s: [Session]) -> [Session] {
                s.map { var t = $0; t.lines = t.lines.map { var l = $0; l.source = 0; return l }; return t }
            }
            Fuzz.same(grow ? oneSource(stored) : stored, reference, "the index's sessions, \(how)")
            if !grow {
                Fuzz.require(report.sessions == UInt64(reference.count), "\(how): \(report.sessions) sessions, expected \(reference.count)")
            }
        }

        let engine = QueryEngine(index: index)
        func find(_ s: Session, _ predicate: Query.Predicate, _ what: String, date: Bool = false) throws {
            var q = Query()
            q.predicates = [predicate]
            if date { q.fromDate = s.date; q.toDate = s.date }
            let found = try engine.matches(q)
            Fuzz.require(found.contains(s.number), "session \(s.number) not found by \(what), \(how)")
        }
        for s in reference.prefix(cut ? 0 : 64) {
            try find(s, .line(s.lineID), "its line id \(s.lineID)", date: true)
            if let peer = s.facts.peer, let r = CIDRRange("\(peer)") { try find(s, .peer(r), "its peer \(peer)") }
            for a in s.facts.from { try find(s, .sender(a), "its sender \(String(decoding: a, as: UTF8.self))") }
            for a in s.facts.to + s.facts.rejected { try find(s, .recipient(a), "its recipient \(String(decoding: a, as: UTF8.self))") }
            // Ids are looked up lowercased, as `Query.parse` gives them.
            for m in s.facts.messages { try find(s, .message(m.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }), "its message id \(String(decoding: m, as: UTF8.self))") }
        }

        // The same file again: skipped, nothing added.
        let again = try Indexer.run(directory: dir, paths: [logs], options: o)
        Fuzz.require(again.files == 0 && again.skipped == 1 && again.errors.isEmpty,
                     "second run: \(again.files) files, \(again.skipped) skipped, \(again.errors)")
    } catch {
        Fuzz.require(false, "\(how): \(error)")
    }
    return 0
}

Fuzz.run { fuzzIndex($0, $1) }
