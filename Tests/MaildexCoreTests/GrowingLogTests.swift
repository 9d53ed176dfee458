import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery

/// Today's log, indexed while the server still writes it: each run reads on from where
/// the last one stopped, and the index ends as an index of the whole file would be.
extension IndexTests {
    @Test(arguments: [600, 0])
    func aLogThatGrowsBetweenRunsIsReadOnFromWhereTheLastRunStopped(restSeconds: Int) throws {
        let (logs, corpus) = try TestData.generate("grow-\(restSeconds)", dialect: .stalker, days: 2, sessionsPerDay: 500, recordLines: false)
        let live = TestData.temporaryDirectory("grow-live"), grown = TestData.temporaryDirectory("grown"), whole = TestData.temporaryDirectory("whole")
        defer { for d in [logs, live, grown, whole] { try? FileManager.default.removeItem(atPath: d) } }
        let day1 = live + "/" + corpus.files[0].name, day2 = live + "/" + corpus.files[1].name
        try FileManager.default.copyItem(atPath: corpus.files[0].path, toPath: day1)
        let text = try [UInt8](Data(contentsOf: URL(fileURLWithPath: corpus.files[1].path)))
        // Cuts inside a line, at a line's end inside a record (before one of its
        // continuation lines, which then continue that record's session), and inside a line
        // again. A file at rest (`restSeconds` 0) is read whole, its last line too: cut it
        // where records begin only.
        func lineEnd(after i: Int) -> Int { text[i...].firstIndex(of: 10)! + 1 }
        func startsRecord(_ i: Int) -> Bool { text.withUnsafeBytes { RecordBoundaries.nextRecordStart($0, from: i - 1) == i } }
        var continuation = lineEnd(after: text.count / 2)
        while startsRecord(continuation) { continuation = lineEnd(after: continuation) }
        func recordStart(after i: Int) -> Int { text.withUnsafeBytes { RecordBoundaries.nextRecordStart($0, from: i)! } }
        let inside = [text.count / 5 + 17, continuation, continuation + 3 * text.count / 10 + 5]
        let cuts = (restSeconds == 0 ? inside.map(recordStart(after:)) : inside) + [text.count]
        var notes = [String]()
        var from = 0
        FileManager.default.createFile(atPath: day2, contents: nil)
        for cut in cuts {
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: day2))
            h.seekToEndOfFile(); h.write(Data(text[from..<cut])); try h.close()
            from = cut
            let r = try index(from == cuts[0] ? [day1, day2] : [day2], into: grown, restSeconds: restSeconds)
            #expect(r.errors.isEmpty, "\(r.errors)")
            #expect(r.files == 1 + (from == cuts[0] ? 1 : 0))
            notes += r.notes
            try IndexReader(directory: grown).verifyAll()
        }
        // Only a file still being written holds back a last line without its end (the
        // cuts inside a line; day 1, not the newest of the first run, is read whole).
        let held = notes.filter { $0.contains("still being written") }.count
        #expect(restSeconds == 0 ? held == 0 : held == 2)
        #expect(notes.filter { $0.contains("has grown since it was indexed") }.count == 3)
        // Indexed again, unchanged: skipped.
        let again = try index([live], into: grown, restSeconds: restSeconds)
        #expect(again.files == 0 && again.skipped == 2 && again.errors.isEmpty)
        // The same sessions, lines, numbers of lines and offsets as one run over the
        // finished file (at the same path: the names compare equal).
        _ = try index([live], into: whole)
        let expected = try comparable(try allSessions(whole), whole)
        expectSame(expected, try comparable(try allSessions(grown), grown), "grown vs whole")
        // Message records are rows of a chunk each (a query gathers them by message id):
        // a run's end cuts a chunk, so compare their lines, not their rows.
        expectSame(try trailLines(whole), try trailLines(grown), "message record lines")
        let a = QueryEngine(index: try IndexReader(directory: whole)), b = QueryEngine(index: try IndexReader(directory: grown))
        #expect(try probeQueries.map { try b.matches(try Query.parse($0)) } == probeQueries.map { try a.matches(try Query.parse($0)) })
        // The newest record of the file covers all of it, and says from where it read.
        let records = try IndexReader(directory: grown).sources.values.filter { $0.name == corpus.files[1].name }.sorted { $0.id < $1.id }
        #expect(records.count == cuts.count)
        #expect(records.dropFirst().allSatisfy(\.continues) && !records[0].continues)
        #expect(records.last!.size == UInt64(text.count) && records.last!.sha256 == sha256(text))
        #expect(zip(records, records.dropFirst()).allSatisfy { $1.firstOffset == $0.size })
        // Compacted, the same.
        _ = try Compactor.run(directory: grown)
        expectSame(expected, try comparable(try allSessions(grown), grown), "grown, compacted")
        try IndexReader(directory: grown).verifyAll()
    }

    @Test func aLogChangedOrGrownFromAnUnfinishedLineIsRefusedWithItsName() throws {
        let dir = TestData.temporaryDirectory("grow-refused")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let idx = dir + "/idx", path = dir + "/2026-01-01.log"
        let first = "10:00:00 5 SMTP-1() Stream Created\n10:00:01 5 SMTP-2() Stream Created\n"
        try Data(first.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try index([path], into: idx, restSeconds: 600).errors.isEmpty)
        // Its indexed bytes changed, then it grew: not the same file.
        try Data((first.replacingOccurrences(of: "SMTP-1", with: "SMTP-3") + "10:00:02 5 SMTP-4() Stream Created\n").utf8)
            .write(to: URL(fileURLWithPath: path))
        let changed = try index([path], into: idx, restSeconds: 600)
        #expect(changed.files == 0 && changed.errors.count == 1)
        #expect(changed.errors.first?.path == path && changed.errors.first!.message.contains("different content"))
        // A file at rest (read whole, its last line without an end) that grows later.
        let other = dir + "/2026-01-02.log"
        try Data("10:00:00 5 SMTP-5() Stream Created\n10:00:01 5 SMTP-5() unfinished".utf8).write(to: URL(fileURLWithPath: other))
        #expect(try index([other], into: idx, restSeconds: 0).errors.isEmpty)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: other))
        h.seekToEndOfFile(); h.write(Data(" line\n".utf8)); try h.close()
        let grown = try index([other], into: idx, restSeconds: 0)
        #expect(grown.files == 0 && grown.errors.first?.path == other)
        #expect(grown.errors.first?.offset == 65 && grown.errors.first!.message.contains("did not end with a line end"))
    }
}

/// Every line of every row of message records, with where it came from, sorted.
private func trailLines(_ dir: String) throws -> [String] {
    let r = try IndexReader(directory: dir)
    return try allSessions(dir, trails: true).filter(\.channel.isTrail).flatMap { s in
        var out = [UInt8]()
        SessionView(session: s, sourceName: { r.sourceName($0) }).appendTranscript(to: &out, provenance: true, offsets: true)
        // Without each row's "== " summary line (one per row).
        return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.hasPrefix("== ") }
    }.sorted()
}

private func sha256(_ bytes: [UInt8]) -> [UInt8] {
    let h = SHA256Hasher()
    h.update(bytes)
    return h.finish()
}
