import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery

/// Indexes written by earlier versions of maildex. `Fixtures/index-format-N` is the index
/// of the two 1999 fixture logs as format N wrote it (`maildex index --index
/// index-format-N 1999-04-28.log 1999-04-29.log`, run in `Fixtures/`; format 3 at 8f68842,
/// format 4 with issue #18's servers and message trails). Each is committed, never
/// rewritten: after a format change it must still be read, or be refused with the format
/// and what to do, never crash. Format 3 is refused (format 4 added terms it lacks).
@Suite struct OldIndexTests {
    /// A copy of a committed index (`index-format-N`, of the two fixture logs) in a scratch
    /// directory (tests may damage it). Format 4 is the one this maildex writes.
    static func copyOfFormat(_ version: Int = 4) throws -> String {
        let dir = TestData.temporaryDirectory("format\(version)")
        let from = TestData.fixturePath("index-format-\(version)")
        for name in try FileManager.default.contentsOfDirectory(atPath: from) {
            try FileManager.default.copyItem(atPath: from + "/" + name, toPath: dir + "/" + name)
        }
        return dir
    }

    @Test func theFormat4IndexAnswersAsAFreshIndexOfTheSameLogs() throws {
        let old = try Self.copyOfFormat(4)
        let fresh = TestData.temporaryDirectory("format4-fresh")
        defer { for d in [old, fresh] { try? FileManager.default.removeItem(atPath: d) } }
        _ = try index(["1999-04-28.log", "1999-04-29.log"].map(TestData.fixturePath), into: fresh)
        let a = try Searcher(directory: old), b = try Searcher(directory: fresh)
        for terms in [["line:509", "date:1999-04-28"], ["ip:209.162.104.65"], ["since:1999-01-01"], ["to:recipes@hypertouch.com"],
                      ["status:accepted", "direction:in", "tls:no"]] {
            let q = try Query.parse(terms)
            let ra = try a.search(q), rb = try b.search(q)
            #expect(!ra.numbers.isEmpty && ra.numbers == rb.numbers, "\(terms)")
            var ma = [UInt8](), mb = [UInt8]()
            try a.render(ra, as: .json, messages: true) { ma += $0 }
            try b.render(rb, as: .json, messages: true) { mb += $0 }
            #expect(ma == mb && !ma.isEmpty, "\(terms)")
            var ta = [UInt8](), tb = [UInt8]()
            try a.render(ra, as: .provenance) { ta += $0 }
            try b.render(rb, as: .provenance) { tb += $0 }
            #expect(ta == tb, "\(terms)")
            var ja = [UInt8](), jb = [UInt8]()
            try a.render(ra, as: .json) { ja += $0 }
            try b.render(rb, as: .json) { jb += $0 }
            #expect(ja == jb, "\(terms)")
        }
        // The digests recorded then are the fixtures' own.
        for src in try a.index().sources.values {
            let bytes = try TestData.fixture(src.name)
            let h = SHA256Hasher()
            h.update(bytes)
            #expect(SHA256Hasher.hex(src.sha256) == SHA256Hasher.hex(h.finish()), "\(src.name)")
        }
        try a.index().verifyAll()
    }

    /// The index with its segment's format field set to `version`.
    static func withSegmentFormat(_ version: UInt32) throws -> String {
        let dir = try copyOfFormat(4)
        let path = dir + "/seg-000001.mdx"
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for k in 0..<4 { b[8 + k] = UInt8(truncatingIfNeeded: version >> (8 * k)) }
        try Data(b).write(to: URL(fileURLWithPath: path))
        return dir
    }

    /// Opening the index in `dir` is refused: its segment is of format `version`, and the
    /// message says to rebuild (exit status 2).
    static func expectRefused(_ dir: String, version: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do { _ = try Searcher(directory: dir); Issue.record("opened", sourceLocation: sourceLocation) } catch let e as MaildexError {
            #expect(e.kind == .unsupportedFormat && e.formatVersion == version, sourceLocation: sourceLocation)
            #expect(e.message.contains("format \(version); rebuild the index with maildex index"), "\(e)", sourceLocation: sourceLocation)
            #expect(e.exitStatus == 2, sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func aSegmentOfAnotherFormatIsRefusedWithWhatToDo() throws {
        Self.expectRefused(try Self.withSegmentFormat(99), version: 99)
    }

    /// Format 3 (before servers, message trails and the terms of states) is refused: its
    /// terms cannot answer `server:`, `tls:`, `status:`, `direction:` or `auth:`, nor its
    /// store a session's messages.
    @Test func theFormat3IndexIsRefusedWithWhatToDo() throws {
        Self.expectRefused(try Self.copyOfFormat(3), version: 3)
    }

    @Test func aManifestOfAnotherFormatIsRefusedWithWhatToDo() throws {
        let dir = try Self.copyOfFormat(4)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + Manifest.fileName
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var body = text.components(separatedBy: "\n").filter { !$0.hasPrefix("checksum ") && !$0.isEmpty }.joined(separator: "\n") + "\n"
        body = body.replacingOccurrences(of: "maildex-manifest 1", with: "maildex-manifest 2")
        let crc = CRC32C.checksum(Array(body.utf8))
        try (body + "checksum " + String(crc, radix: 16) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try Searcher(directory: dir); Issue.record("opened") } catch let e as MaildexError {
            #expect(e.kind == .unsupportedFormat, "\(e)")
            #expect(e.message.contains("format 2; rebuild the index with maildex index"), "\(e)")
        }
    }
}

extension CommandLineTests {
    @Test func anIndexOfAnotherFormatIsRefusedWithExit2() throws {
        let dir = try OldIndexTests.withSegmentFormat(7)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for args in [["query", "--index", dir, "ip:209.162.104.65"], ["stats", "--index", dir], ["verify", "--index", dir]] {
            let r = try run(args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("format 7; rebuild the index with maildex index"), "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        let ok = try OldIndexTests.copyOfFormat(4)
        defer { try? FileManager.default.removeItem(atPath: ok) }
        let r = try run(["query", "--index", ok, "--count", "line:509", "date:1999-04-28"])
        #expect(r.status == 0 && r.text == "1\n", "\(r.stderr)")
    }
}
