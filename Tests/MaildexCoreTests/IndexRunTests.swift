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

/// Index runs over time: reruns, nightly runs, merges, segment limits, carried sessions.
extension IndexTests {
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
        o.read.restSeconds = 0  // the files were just written: at rest all the same
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
        // A merge left undone (here: a run without a policy; or one killed in its merge) is
        // done by the next run with a policy, even with no new file.
        o.mergePolicy = MergePolicy(factor: 2, floorBytes: 1 << 40, maxSegmentBytes: .max, maxMergeBytes: .max)
        let again = try Indexer.run(directory: nightly, paths: [logs], options: o)
        #expect(again.files == 0 && again.errors.isEmpty)
        #expect(again.merged.merges == 1 && again.segments == 1)
        try IndexReader(directory: nightly).verifyAll()
        // Each run removed the carry file it replaced: only the manifest's are left.
        let left = try FileManager.default.contentsOfDirectory(atPath: nightly).filter { $0.hasPrefix("carry-") }
        #expect(left == (try IndexReader(directory: nightly)).manifest.carryFiles)
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
        o.read.restSeconds = 0  // the files were just written: at rest all the same
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
        o.read.restSeconds = 0  // the files were just written: at rest all the same
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
        o.read.restSeconds = 0  // the files were just written: at rest all the same
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
}
