import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

/// Which files a run takes from its paths, and what it says of those it cannot take.
@Suite struct InputFilesTests {
    let day = "10:00:00 5 SMTP-1() Stream Created\n10:00:01 4 SMTP-1([1.2.3.4]) Got connection from [1.2.3.4:25]\n"
        + "10:00:02 5 SMTP-1([1.2.3.4]) Stream Disposed\n"

    /// A new directory holding `logs/2026-01-01.log` (one session).
    func logsWithOneDay(_ label: String) throws -> String {
        let work = TestData.temporaryDirectory(label)
        try FileManager.default.createDirectory(atPath: work + "/logs", withIntermediateDirectories: true)
        try Data(day.utf8).write(to: URL(fileURLWithPath: work + "/logs/2026-01-01.log"))
        return work
    }

    @Test func aFileReachedTwiceIsIndexedOnceAndALinkToAParentIsNoLoop() throws {
        let work = try logsWithOneDay("twice"), logs = work + "/logs", fm = FileManager.default
        defer { try? fm.removeItem(atPath: work) }
        // A second name for the same file, and a link back to the directory itself.
        try fm.createSymbolicLink(atPath: logs + "/2026-01-01_00-00.log", withDestinationPath: "2026-01-01.log")
        try fm.createSymbolicLink(atPath: logs + "/again", withDestinationPath: ".")
        let paths = [logs, logs + "/2026-01-01.log", work + "/logs/"]
        let found = InputFiles.discover(paths)
        #expect(found.errors.isEmpty, "\(found.errors)")
        #expect(found.files.map(\.path) == [logs + "/2026-01-01.log"])

        let report = try index(paths, into: work + "/idx", threads: 1)
        #expect(report.files == 1 && report.sessions == 1, "\(report.files) files, \(report.sessions) sessions")
    }

    @Test func entriesThatCannotBeReadAreErrorsNotSilence() throws {
        let work = try logsWithOneDay("unreadable"), logs = work + "/logs", fm = FileManager.default
        defer { try? fm.removeItem(atPath: work) }
        // A day whose archive is not mounted, a link that names no log, and a pipe.
        try fm.createSymbolicLink(atPath: logs + "/2026-01-02.log.zst", withDestinationPath: work + "/not-mounted/2026-01-02.log.zst")
        try fm.createSymbolicLink(atPath: logs + "/current", withDestinationPath: work + "/nowhere")
        #expect(mkfifo(logs + "/2026-01-03.log", 0o600) == 0)

        let found = InputFiles.discover([logs, work + "/missing.log"])
        #expect(found.files.map(\.name) == ["2026-01-01.log"])
        let messages = found.errors.map(\.description)
        #expect(found.errors.map(\.path) == [logs + "/2026-01-02.log.zst", logs + "/2026-01-03.log", work + "/missing.log"], "\(messages)")
        #expect(messages[1].contains("not a regular file"), "\(messages)")

        // The run indexes the rest and reports each (so `index` exits 1).
        let report = try index([logs], into: work + "/idx", threads: 1)
        #expect(report.files == 1 && report.sessions == 1)
        #expect(report.errors.count == 2, "\(report.errors)")
    }

    @Test func aFileReadWithoutMappingIsTheSameBytes() throws {
        let work = TestData.temporaryDirectory("read")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let path = work + "/2026-01-01.log"
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let mapped = try MappedFile(path: path), read = try MappedFile(path: path, mapped: false)
        #expect(mapped.mapped && !read.mapped)
        #expect(read.size == bytes.count && read.sizeWhenOpened == bytes.count)
        #expect(read.withBytes { Array($0) } == bytes && mapped.withBytes { Array($0) } == bytes)
        let h = SHA256Hasher(); h.update(bytes)
        #expect(try Indexer.sha256(of: path) == h.finish())
    }

    @Test func aFileThatShrinksWhileReadIsAnErrorAtTheByteWhereItEnded() throws {
        // Read with `read(2)` (`--no-mmap`), a log truncated under maildex (rotated, or
        // rewritten) is no longer read to a quiet, shorter end: what was read is kept and
        // an error names the byte where the file ended.
        let work = TestData.temporaryDirectory("shrink")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let path = try writeRecords(in: work)
        var options = ReadOptions()
        options.useMmap = false
        options.windowSize = 16 << 10
        // At rest: read to its end, a last line without its `\n` included.
        options.now = { Int(time(nil)) + 601 }
        var truncated = false
        var read = 0
        let summary = try SourceReader.read(path: path, source: 0, date: CivilDate(iso: "2026-01-01")!, options: options) { window in
            if !truncated { truncated = true; #expect(truncate(path, 40_000) == 0) }
            read += window.bytes.count
            return 0
        }
        #expect(truncated)
        #expect(summary.plainBytes == 40_000 && summary.fileBytes == 40_000 && read == 40_000)
        let error = try #require(summary.error)
        #expect(error.offset == 40_000 && error.message.contains("shrank"), "\(error)")
    }

    /// By default a file modified in the last `restSeconds` is read, not mapped: truncated
    /// under maildex (today's log, rotated), it is an error at the byte where it ended
    /// rather than SIGBUS. The same file at rest is mapped.
    @Test func aFileStillBeingWrittenIsReadNotMappedByDefault() throws {
        let work = TestData.temporaryDirectory("fresh")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let path = try writeRecords(in: work)
        let date = CivilDate(iso: "2026-01-01")!
        var options = ReadOptions()
        options.windowSize = 16 << 10
        #expect(options.useMmap)
        var later = options
        later.now = { Int(time(nil)) + 601 }
        #expect(try SourceReader.read(path: path, source: 0, date: date, options: later) { _ in 0 }.mapped)
        var truncated = false
        var live = options
        live.holdBackUnfinished = true  // as the indexer reads the newest file of a run
        let summary = try SourceReader.read(path: path, source: 0, date: date, options: live) { window in
            if !truncated { truncated = true; #expect(truncate(path, 40_000) == 0) }
            return 0
        }
        #expect(!summary.mapped && truncated)
        // Not at rest: read up to the last line end before the cut; the rest of that line
        // (the server may be writing it) is left for the next run.
        let text = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let lastEnd = text.lastIndex(of: 10)! + 1
        #expect(lastEnd < 40_000)
        #expect(summary.plainBytes == UInt64(lastEnd) && summary.fileBytes == UInt64(lastEnd) && summary.heldBack == UInt64(40_000 - lastEnd))
        #expect(try #require(summary.error).offset == 40_000)
        // A file dated in the future is not at rest either.
        var earlier = options
        earlier.now = { Int(time(nil)) - 3600 }
        #expect(try !SourceReader.read(path: path, source: 0, date: date, options: earlier) { _ in 0 }.mapped)
    }

    /// `DIR/2026-01-01.log`: 4,000 one-line records (about 150 KB).
    func writeRecords(in dir: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/2026-01-01.log"
        var text = ""
        for i in 0..<4000 { text += "10:00:\(String(format: "%02d", i % 60)) 5 SMTP-\(i)() Stream Created\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}
