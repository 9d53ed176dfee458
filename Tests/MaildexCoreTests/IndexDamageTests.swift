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

/// Readers beside a writer, failed merges, forged and damaged segments, bad input files.
extension IndexTests {
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

    /// `verify` reads the carry files too (found by scripts/torture.sh: a damaged carry
    /// file passed it, and only the next run refused it).
    @Test func aManifestNamingFilesOutsideTheIndexIsRefused() throws {
        // With a valid checksum (forged, or written by hand): no reader opens, and no merge
        // deletes, a file the manifest names outside the index's own kinds.
        let dir = TestData.temporaryDirectory("manifest-names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for bad in ["segment ../../etc/passwd", "segment seg-1.mdx/../x", "carry /tmp/x", "server-carry mx01 carry-1.bin.bak",
                    "segment seg-.mdx", "segment seg-00a1.mdx"] {
            var body = "maildex-manifest 1\ngeneration 1\n\(bad)\n"
            body += "checksum \(String(CRC32C.checksum(Array(body.utf8)), radix: 16))\n"
            try Data(body.utf8).write(to: URL(fileURLWithPath: dir + "/MANIFEST"))
            #expect(throws: MaildexError.self, "\(bad)") { _ = try Manifest.load(directory: dir) }
            do { _ = try Manifest.load(directory: dir) } catch let e as MaildexError {
                #expect(e.kind == .corrupt && e.path == dir + "/MANIFEST" && e.message.contains("as a file of the index"), "\(e)")
            }
        }
        var good = "maildex-manifest 1\ngeneration 1\nsegment seg-000001.mdx\ncarry carry-000001.bin\n"
        good += "checksum \(String(CRC32C.checksum(Array(good.utf8)), radix: 16))\n"
        try Data(good.utf8).write(to: URL(fileURLWithPath: dir + "/MANIFEST"))
        #expect(try Manifest.load(directory: dir)?.segments == ["seg-000001.mdx"])
    }

    @Test func verifyRefusesADamagedCarryFile() throws {
        let (logs, _) = try TestData.generate("carry-damage", dialect: .stalker, days: 1, sessionsPerDay: 300, recordLines: false)
        let dir = TestData.temporaryDirectory("carry-damage-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([logs], into: dir)
        let name = try #require(try IndexReader(directory: dir).manifest.carryFiles.first, "a day's run leaves the sessions open at midnight")
        try IndexReader(directory: dir).verifyAll()
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
        bytes[bytes.count / 2] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
        let error = try #require(throws: IndexError.self) { try IndexReader(directory: dir).verifyAll() }
        #expect("\(error)".contains(name), "\(error)")
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
