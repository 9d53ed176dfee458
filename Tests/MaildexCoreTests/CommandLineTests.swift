import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

/// End-to-end: the real `maildex` binary, its output and exit codes.
@Suite(.serialized) struct CommandLineTests {
    static let binary: String = {
        // Tests/MaildexCoreTests/CommandLineTests.swift -> repository root
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let bundle = Bundle.module.bundleURL.deletingLastPathComponent()
        for dir in [bundle, root.appendingPathComponent(".build/debug")] {
            let p = dir.appendingPathComponent("maildex").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return root.appendingPathComponent(".build/debug/maildex").path
    }()

    struct Run { var status: Int32; var stdout: [UInt8]; var stderr: String; var text: String { String(bytes: stdout) } }

    /// Runs the binary; with `stdoutPath`, its standard output goes to that file.
    func run(_ args: [String], stdoutPath: String? = nil) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        if let stdoutPath {
            p.standardOutput = try #require(FileHandle(forWritingAtPath: stdoutPath))
        } else {
            p.standardOutput = out
        }
        p.standardError = err
        try p.run()
        if stdoutPath != nil { try out.fileHandleForWriting.close() }
        let o = stdoutPath == nil ? out.fileHandleForReading.readDataToEndOfFile() : Data()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: Array(o), stderr: String(decoding: e, as: UTF8.self))
    }

    @Test func sourcesRecordedWithoutADigestAreNamedAndNotTakenForChangedFiles() throws {
        // An index written before 2026-11-30 held no SHA-256 for `.zst` files. `verify`
        // names them; a nightly run skips such a file (same name and size) with a note
        // instead of refusing it as changed.
        let work = TestData.temporaryDirectory("nodigest")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let idx = work + "/idx", logs = work + "/logs"
        try FileManager.default.createDirectory(atPath: idx, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let log = logs + "/2026-01-02.log.zst"
        try Data(Zstd.compress(Array("10:00:00 5 SMTP-1() Stream Created\n".utf8).withUnsafeBytes { $0 }, level: 3)).write(to: URL(fileURLWithPath: log))
        let size = UInt64(try FileManager.default.attributesOfItem(atPath: log)[.size] as! Int)
        let w = try SegmentWriter(directory: idx, name: "seg-000001.mdx", threads: 1)
        w.add(source: SourceRecord(id: 0, name: "2026-01-02.log.zst", path: log, date: CivilDate(iso: "2026-01-02")!, size: size,
                                   mtime: 1, sha256: [], plainBytes: 36, frames: 1, indexedAt: 1), lines: 1)
        _ = try w.finish()
        var m = Manifest()
        m.generation = 1; m.nextSource = 1; m.segments = ["seg-000001.mdx"]
        try m.store(directory: idx)

        let v = try run(["verify", "--index", idx])
        #expect(v.status == 0, "\(v.stderr)")
        #expect(v.stderr.contains("without their SHA-256") && v.stderr.contains("2026-01-02.log.zst"), "\(v.stderr)")
        let i = try run(["index", "--index", idx, "--json", logs])
        #expect(i.status == 0, "\(i.stderr)")
        #expect(i.text.contains("\"skipped\":1"), "\(i.text)")
        #expect(i.stderr.contains("indexed without its SHA-256"), "\(i.stderr)")
    }

    @Test func benchMeasuresEveryRunAndKeepsItsKeys() throws {
        // The end-to-end benchmark on a tiny corpus: its JSON keys are what users' scripts
        // read, and each indexing figure is the median of the runs it lists.
        let work = TestData.temporaryDirectory("bench")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let r = try run(["bench", "--size", "3M", "--days", "2", "--dir", work, "--index-runs", "3",
                         "--repeats", "2", "--process-repeats", "1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let last = try #require(r.text.split(separator: "\n").last)
        let j = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        for key in ["logBytes", "indexBytesPerSecond", "indexPeakResidentBytes", "indexBytes", "speedupTwoThreads", "rareIP", "busyIP", "cidr16"] {
            #expect(j[key] != nil, "\(key)")
        }
        #expect(j["indexRuns"] as? Int == 3)
        let two = try #require(j["indexSeconds"] as? [Double]), one = try #require(j["indexOneThreadSeconds"] as? [Double])
        #expect(two.count == 3 && one.count == 3)
        let logBytes = try #require(j["logBytes"] as? Double), rate = try #require(j["indexBytesPerSecond"] as? Double)
        #expect(abs(logBytes / rate / two.sorted()[1] - 1) < 0.001, "the rate is the median run's")
        let speedups = zip(one, two).map { $0 / $1 }.sorted()
        let speedup = try #require(j["speedupTwoThreads"] as? Double)
        #expect(abs(speedup / speedups[1] - 1) < 0.001, "the speed-up is the median pair's")
        #expect(r.text.contains("index plain, 2 threads") && r.text.contains("index plain, 1 thread"))
        // The machine's row sets the index's speed-up beside the machine's own.
        if let machine = j["machineTwoProcessSpeedup"] as? Double {
            let row = try #require(r.text.split(separator: "\n").first { $0.hasPrefix("machine: two zstd") })
            let shown = try #require(row.split(separator: " ").last.flatMap { Double($0.dropLast()) }, "\(row)")
            #expect(abs(shown - speedup) <= 0.006, "\(row)")
            // Both rounded from the same figure, the JSON's to more digits: equal within a rounding.
            let words = row.split(separator: " ")
            let throughput = try #require(words.firstIndex(of: "throughput").flatMap { Double(words[$0 - 1].dropLast()) }, "\(row)")
            #expect(abs(throughput - machine) <= 0.006, "\(row)")
        }
    }

    @Test func generateIndexQueryEndToEnd() throws {
        let work = TestData.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let logs = work + "/logs", idx = work + "/idx"
        let g = try run(["generate", "--out", logs, "--days", "2", "--sessions-per-day", "300", "--seed", "4", "--compress", "zstd-frames", "--json"])
        #expect(g.status == 0, "\(g.stderr)")
        try FileManager.default.copyItem(atPath: TestData.fixturePath("1999-04-28.log"), toPath: logs + "/1999-04-28.log")

        let i = try run(["index", "--index", idx, "--json", logs])
        #expect(i.status == 0, "\(i.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(i.stdout)) as? [String: Any])
        for key in ["files", "bytes", "lines", "sessions", "messages", "seconds", "bytesPerSecond", "indexBytes", "segmentsMerged", "segments"] {
            #expect(summary[key] != nil, "missing \(key)")
        }
        #expect(summary["files"] as? Int == 3)

        // The transcript of session 509 is the fixture's lines, byte for byte.
        let q = try run(["query", "--index", idx, "ip:209.162.104.65"])
        #expect(q.status == 0)
        let lines = q.stdout.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        #expect(String(bytes: lines[0]).hasPrefix("== 1999-04-28 SMTP-509"))
        let fixture = try TestData.fixture("1999-04-28.log").split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        #expect(lines[1] == fixture[0])
        #expect(lines.contains(fixture[6]))  // the continuation line of the greeting

        let j = try run(["query", "--index", idx, "--json", "to:recipes@hypertouch.com"])
        #expect(j.status == 0)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout)) as? [String: Any])
        #expect(obj["peer"] as? String == "209.162.104.65")
        #expect(obj["port"] as? Int == 1957)

        // Boolean forms and --newest through the command line: `--` before a leading `-`.
        let oldestFirst = try run(["query", "--index", idx, "--summary", "ip:0.0.0.0/0"])
        let newestFirst = try run(["query", "--index", idx, "--summary", "--newest", "ip:0.0.0.0/0"])
        let summaries = oldestFirst.stdout.split(separator: 10).map(Array.init)
        #expect(summaries.count > 2 && newestFirst.stdout.split(separator: 10).map(Array.init) == summaries.reversed())
        let without = try run(["query", "--index", idx, "--count", "--", "ip:0.0.0.0/0", "-ip:209.162.104.65"])
        let all = try run(["query", "--index", idx, "--count", "ip:0.0.0.0/0"])
        #expect(Int(String(bytes: without.stdout).trimmingCharacters(in: .whitespacesAndNewlines))! + 1
                == Int(String(bytes: all.stdout).trimmingCharacters(in: .whitespacesAndNewlines))!)
        let either = try run(["query", "--index", idx, "--count", "(ip:209.162.104.65", "OR", "ip:36.37.0.13)"])
        func count(_ terms: String...) throws -> Int {
            Int(String(bytes: try run(["query", "--index", idx, "--count"] + terms).stdout).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let peers = try count("ip:209.162.104.65") + count("ip:36.37.0.13")
        #expect(peers >= 1 && String(bytes: either.stdout) == "\(peers)\n")
        #expect(try count("ip:209.162.104.65,36.37.0.13") == peers)

        let c = try run(["query", "--index", idx, "--count", "ip:0.0.0.0/0"])
        #expect(c.status == 0)
        #expect((Int(c.text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 100)

        let e = try run(["query", "--index", idx, "--evidence", "msg:S.0000014724"])
        #expect(e.status == 0)
        #expect(e.text.contains("1999-04-28.log:1:0:21:30:41 5 SMTP-509() Stream Created"))
        #expect(e.text.contains("sha256 "))

        let s = try run(["stats", "--index", idx, "--json"])
        #expect(s.status == 0)
        #expect((try JSONSerialization.jsonObject(with: Data(s.stdout)) as? [String: Any])?["sessions"] != nil)

        // No match: nothing on stdout, exit 1. Bad syntax or no index: exit 2.
        let none = try run(["query", "--index", idx, "ip:192.0.2.55"])
        #expect(none.status == 1 && none.stdout.isEmpty && none.stderr.contains("no session"))
        let bad = try run(["query", "--index", idx, "what?"])
        #expect(bad.status == 2 && bad.stderr.contains("ip:"))
        let missing = try run(["query", "--index", work + "/nope", "ip:1.2.3.4"])
        #expect(missing.status == 2 && missing.stderr.contains("no maildex index"))
        // Bad usage, whichever part of the command line is wrong, exits 2 as documented
        // (not ArgumentParser's 64), with the message and the usage.
        for (args, says) in [(["query", "--index", idx, "--limit", "0", "ip:1.2.3.4"], "--limit"),
                             (["query", "--index", idx, "--limit", "x", "ip:1.2.3.4"], "--limit"),
                             (["query", "ip:1.2.3.4"], "--index"), (["index", "--index", idx, "--bogus", logs], "--bogus"),
                             (["index", "--index", idx, "--date", "2026-02-30", logs], "--date")] {
            let usage = try run(args)
            #expect(usage.status == 2 && usage.stdout.isEmpty, "\(args): exit \(usage.status)")
            #expect(usage.stderr.contains(says) && usage.stderr.contains("Usage:"), "\(args): \(usage.stderr)")
        }
        #expect(try run(["query", "--help"]).status == 0)

        // A bad file: named with its offset, the rest indexed, exit 1.
        try Data("garbage that is not zstd".utf8).write(to: URL(fileURLWithPath: logs + "/2026-02-01.log.zst"))
        let again = try run(["index", "--index", idx, logs])
        #expect(again.status == 1)
        #expect(again.stderr.contains("2026-02-01.log.zst") && again.stderr.contains("at byte 0"), "\(again.stderr)")

        let v = try run(["verify", "--index", idx])
        #expect(v.status == 0, "\(v.stderr)")

        // Output that cannot be written (a full disk) is an error, not a quiet exit 0.
        for args in [["query", "--index", idx, "ip:0.0.0.0/0"], ["query", "--index", idx, "--json", "ip:0.0.0.0/0"],
                     ["query", "--index", idx, "--count", "ip:0.0.0.0/0"], ["stats", "--index", idx], ["verify", "--index", idx]] {
            let full = try run(args, stdoutPath: "/dev/full")
            #expect(full.status == 2, "\(args): exit \(full.status)")
            #expect(full.stderr.contains("cannot write to standard output"), "\(args): \(full.stderr)")
        }
        let compact = try run(["compact", "--index", idx])
        #expect(compact.status == 0, "\(compact.stderr)")
    }

    @Test func aBatchAnswersAsTheSameQueriesOneByOne() throws {
        let work = TestData.temporaryDirectory("cli-batch")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let logs = work + "/logs", idx = work + "/idx"
        #expect(try run(["generate", "--out", logs, "--days", "1", "--sessions-per-day", "300", "--seed", "9", "--dialect", "cgp"]).status == 0)
        let i = try run(["index", "--index", idx, "--server", "MX1", logs])
        #expect(i.status == 0, "\(i.stderr)")
        // Peers that the index holds, and forms of every kind.
        let peers = try run(["query", "--index", idx, "--json", "--limit", "4", "ip:0.0.0.0/0"]).stdout.split(separator: 10).compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any])?["peer"] as? String
        }
        #expect(peers.count == 4)
        var queries = peers.map { "ip:" + $0 }
        queries += ["ip:\(peers[0]),\(peers[1]) tls:yes", "(ip:\(peers[2]) OR ip:\(peers[3])) -status:rejected",
                    "server:mx1 direction:out status:complete", "ip:192.0.2.254", "status:accepted domain:example.com"]
        let file = work + "/queries.txt"
        try ("# an abuse desk's list\n\n" + queries.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)

        func objects(_ bytes: [UInt8]) throws -> [[String: Any]] {
            try bytes.split(separator: 10).map { try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]) }
        }
        func canonical(_ o: [String: Any]) throws -> String {
            var o = o
            o["query"] = nil
            return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
        }
        for extra in [[], ["--messages"]] {
            let b = try run(["query", "--index", idx, "--batch", file] + extra)
            #expect(b.status == 0, "\(b.stderr)")
            let got = try objects(b.stdout)
            // Each object says its query first; the answers come in the order of the lines.
            #expect(b.text.split(separator: "\n").allSatisfy { $0.hasPrefix("{\"query\":") })
            var at = 0
            for q in queries {
                let one = try run(["query", "--index", idx, "--json"] + extra + ["--"] + q.split(separator: " ").map(String.init))
                let expected = try objects(one.stdout).map(canonical)
                let mine = got[at..<min(got.count, at + expected.count)]
                #expect(mine.allSatisfy { $0["query"] as? String == q }, "\(q)")
                #expect(try mine.map(canonical) == expected, "\(q)")
                at += expected.count
            }
            #expect(at == got.count)
        }
        // --count, from standard input: one line per query, the same counts.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["query", "--index", idx, "--batch", "-", "--count"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input; p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(Data((queries.joined(separator: "\n") + "\n").utf8))
        try input.fileHandleForWriting.close()
        let counted = try objects([UInt8](output.fileHandleForReading.readDataToEndOfFile()))
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(counted.map { $0["query"] as? String } == queries)
        for (q, o) in zip(queries, counted) {
            let one = try run(["query", "--index", idx, "--count", "--"] + q.split(separator: " ").map(String.init))
            #expect("\(o["count"] as? Int ?? -1)\n" == one.text, "\(q)")
        }
        // A line that does not parse: its error in place, the others answered, exit 2.
        try (queries[0] + "\nip:999.1.1.1\n" + queries[1] + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let bad = try run(["query", "--index", idx, "--batch", file, "--count"])
        #expect(bad.status == 2 && bad.stderr.contains("queries.txt:2:"), "\(bad.stderr)")
        let lines = try objects(bad.stdout)
        #expect(lines.count == 3 && lines[1]["error"] is String && lines[0]["count"] is Int && lines[2]["count"] is Int)
    }
}
