import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery

/// Real CommuniGate Pro lines (`Fixtures/cgp-real`, one folder per server) and the Stalker
/// fixture: each server's sessions, their peers, HELO, TLS and message trails, checked
/// against what the lines say, read here by plain string matching.
@Suite(.serialized) struct MessageTrailTests {
    static let servers = ["fes01", "mx01", "mx02", "relay"]

    /// The real fixtures indexed as four servers into one index.
    static let realIndex: String = {
        let dir = TestData.temporaryDirectory("cgp-real")
        TestData.removeAtExit(dir)
        for s in servers { _ = try! index([TestData.fixturePath("cgp-real/\(s)")], into: dir, server: s) }
        return dir
    }()

    static func lines(_ server: String) throws -> [String] {
        let folder = TestData.fixturePath("cgp-real/\(server)")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: folder).first { $0.hasSuffix(".log") })
        return try String(contentsOfFile: folder + "/" + name, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// The channel of a line (`SMTPI-060353`, `SMTP-004929`), or nil for records of no session.
    static func channel(_ line: String) -> String? {
        let tag = line.split(separator: " ").dropFirst(2).first.map(String.init) ?? ""
        guard tag.hasPrefix("SMTPI-") || tag.hasPrefix("SMTP-") else { return nil }
        return String(tag.prefix { $0 != "(" })
    }

    /// The queue id a record of no session is about: `QUEUE([id])` or data `[id] ...`.
    static func queueID(_ line: String) -> String? {
        let words = line.split(separator: " ").map(String.init)
        guard words.count > 3, channel(line) == nil else { return nil }
        if words[2].hasPrefix("QUEUE(["), let end = words[2].firstIndex(of: "]") { return String(words[2][words[2].index(words[2].startIndex, offsetBy: 7)..<end]) }
        if words[3].hasPrefix("["), words[3].hasSuffix("]") { return String(words[3].dropFirst().dropLast()) }
        return nil
    }

    func sessions(_ searcher: Searcher, _ terms: [String], messages: Bool = true) throws -> [[String: Any]] {
        let result = try searcher.search(try Query.parse(terms))
        var out = [[String: Any]]()
        try searcher.render(result, as: .json, messages: messages) { bytes in
            for line in bytes.split(separator: 10) {
                out.append(try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]))
            }
        }
        return out
    }

    @Test func eachServersSessionsAreItsChannelsWithTheirTrails() throws {
        let searcher = try Searcher(directory: Self.realIndex)
        for server in Self.servers {
            let lines = try Self.lines(server)
            let channels = Set(lines.compactMap(Self.channel))
            let found = try sessions(searcher, ["server:\(server)"])
            // One session per channel (CommuniGate does not reuse an id within a day), each
            // with exactly its channel's lines, in order.
            #expect(found.count == channels.count, "\(server)")
            for s in found {
                let own = try #require(s["lines"] as? [String])
                let name = try #require(own.first.flatMap(Self.channel))
                #expect(own == lines.filter { Self.channel($0) == name }, "\(server) \(name)")
                #expect(s["server"] as? String == server)
                #expect(s["direction"] as? String == (name.hasPrefix("SMTPI-") ? "in" : "out"), "\(name)")
                // Fragments as published: nothing opens and closes here.
                #expect(s["complete"] as? Bool == false)
                let ids = try #require(s["messages"] as? [String])
                #expect(!ids.isEmpty, "\(server) \(name): every channel line here names its queue id")
                let trail = try #require(s["messageLines"] as? [String])
                #expect(trail == lines.filter { l in Self.queueID(l).map(ids.contains) ?? false }, "\(server) \(name)")
                #expect((s["tls"] as? Bool) == own.contains { $0.contains("] received encrypted") }, "\(name)")
            }
        }
    }

    @Test func peersHeloAndTLSAsTheLinesShowThem() throws {
        let searcher = try Searcher(directory: Self.realIndex)
        // Outbound: the remote host of `sent ... -> [remote]:25`, or the relay of the context.
        let relay = try sessions(searcher, ["server:relay", "direction:out"])
        #expect(relay.count == 1)
        #expect(relay.first?["peer"] as? String == "178.213.67.13" && relay.first?["port"] as? Int == 25)
        #expect(try sessions(searcher, ["ip:178.213.67.13"]).count == 1, "ip: finds a delivery to that host")
        #expect(try searcher.count(try Query.parse(["status:accepted", "direction:out"])) == 1, "got:250")
        let relayed = try Self.lines("mx01").filter { $0.contains("SMTP-") && $0.contains("(193.95.123.24:25)") }.compactMap(Self.channel)
        #expect(try searcher.count(try Query.parse(["ip:193.95.123.24", "server:mx01"])) == Set(relayed).count)
        // Inbound: the peer of the context; the HELO name when the context holds it.
        let gold = try sessions(searcher, ["helo:gold.irrsel.com"])
        #expect(gold.count == 1 && gold.first?["line"] as? Int == 247659 && gold.first?["server"] as? String == "mx01")
        #expect(gold.first?["peer"] is NSNull)
        let fes = try sessions(searcher, ["server:fes01"])
        #expect(fes.first?["peer"] as? String == "197.26.11.151" && fes.first?["helo"] is NSNull)
        // TLS: `received encrypted`.
        let encrypted = try Self.servers.flatMap(Self.lines).filter { $0.contains("] received encrypted") }.compactMap(Self.channel)
        #expect(try searcher.count(try Query.parse(["tls:yes"])) == encrypted.count && encrypted.count == 2)
        let all = try searcher.count(try Query.parse(["since:2000-01-01"]))
        let clear = try searcher.count(try Query.parse(["tls:no"]))
        #expect(clear == all - 2)
    }

    @Test func msgFindsEverySessionOfAMessageInboundAndOutbound() throws {
        let searcher = try Searcher(directory: Self.realIndex)
        let lines = try Self.lines("mx02")
        // A queue id that several outbound attempts name.
        var attempts = [String: Set<String>]()
        for l in lines { if let c = Self.channel(l), c.hasPrefix("SMTP-"), let r = l.range(of: ") ["), let e = l[r.upperBound...].firstIndex(of: "]") {
            attempts[String(l[r.upperBound..<e]), default: []].insert(c)
        } }
        let (id, channels) = try #require(attempts.max { $0.value.count < $1.value.count })
        #expect(channels.count > 1)
        let found = try sessions(searcher, ["msg:\(id)"])
        #expect(found.count == channels.count)
        #expect(found.allSatisfy { ($0["messages"] as? [String]) == [id] && $0["direction"] as? String == "out" })
    }

    @Test func twoServersFilesOfOneNameShareAnIndexButNotTheirIds() throws {
        // The relay's file as two servers: the same name, channel id and queue id.
        let dir = TestData.temporaryDirectory("two-relays")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r1 = try index([TestData.fixturePath("cgp-real/relay")], into: dir, server: "relay")
        let r2 = try index([TestData.fixturePath("cgp-real/relay")], into: dir, server: "relay2")
        #expect(r1.files == 1 && r2.files == 1 && r2.skipped == 0, "a file of another server is not skipped")
        let again = try index([TestData.fixturePath("cgp-real/relay")], into: dir, server: "relay2")
        #expect(again.files == 0 && again.skipped == 1)
        let searcher = try Searcher(directory: dir)
        let both = try sessions(searcher, ["msg:113457753"])
        #expect(both.compactMap { $0["server"] as? String }.sorted() == ["relay", "relay2"])
        let trail = try Self.lines("relay").filter { Self.queueID($0) == "113457753" }
        for s in both { #expect(s["messageLines"] as? [String] == trail, "each trail holds its own server's records only") }
        #expect(try sessions(searcher, ["msg:113457753", "server:relay2"]).count == 1)
        let stats = try searcher.statistics(nil)
        #expect(stats.servers.map(\.name) == ["relay", "relay2"] && stats.servers.allSatisfy { $0.sessions == 1 })
    }

    @Test func session509sMessagesAreTheFourLinesOfItsMessage() throws {
        let dir = TestData.temporaryDirectory("fixture-trail")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([TestData.fixturePath("1999-04-28.log"), TestData.fixturePath("1999-04-29.log")], into: dir)
        let searcher = try Searcher(directory: dir)
        let s = try #require(try sessions(searcher, ["line:509", "date:1999-04-28"]).first)
        let file = try String(contentsOfFile: TestData.fixturePath("1999-04-28.log"), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect((s["lines"] as? [String])?.count == 57)
        // The SYSTEM records of S.0000014724 and the continuation line of the first.
        #expect(s["messageLines"] as? [String] == file[44..<48].map(String.init))
        #expect(s["server"] is NSNull && s["direction"] as? String == "in")
        // Without --messages the object is as before: no messageLines.
        #expect(try sessions(searcher, ["line:509", "date:1999-04-28"], messages: false).first?["messageLines"] == nil)
        // The transcript: the session's lines, then the records about its message.
        var text = [UInt8]()
        try searcher.render(try searcher.search(try Query.parse(["msg:S.0000014724"])), as: .provenance, messages: true) { text += $0 }
        let shown = String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
        var wanted = ["== messages S.0000014724: 4 lines"]
        for n in 45...48 { wanted.append("1999-04-28.log:\(n):" + String(file[n - 1])) }
        #expect(Array(shown.suffix(5)) == wanted)
    }

    /// A logged `AUTH PLAIN`/`AUTH LOGIN` with its initial response names the account once
    /// the server accepts it (235); a refused one (535) or no initial response does not.
    @Test func aLoggedAuthCommandGivesTheAccount() throws {
        let dir = TestData.temporaryDirectory("auth-log")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func session(_ n: Int, _ command: String, _ reply: String) -> String {
            let id = String(format: "%06d", n)
            return """
            10:00:0\(n).000 5 SMTPI-\(id)([192.0.2.\(n)]) connected from [192.0.2.\(n)]:4000\(n)
            10:00:0\(n).001 4 SMTPI-\(id)([192.0.2.\(n)]) cmd: EHLO client\(n)
            10:00:0\(n).002 4 SMTPI-\(id)(client\(n)) cmd: \(command)
            10:00:0\(n).003 4 SMTPI-\(id)(client\(n)) rsp: \(reply)
            10:00:0\(n).004 5 SMTPI-\(id)(client\(n)) releasing stream

            """
        }
        let log = session(1, "AUTH PLAIN AFVzZXI3QEV4YW1wbGUuY29tAHNlY3JldA==", "235 authentication succeeded")
            + session(2, "AUTH LOGIN dXNlcjg=", "235 ok")
            + session(3, "AUTH PLAIN AFVzZXI3QEV4YW1wbGUuY29tAHNlY3JldA==", "535 authentication failed")
            + session(4, "AUTH PLAIN", "334 ")
            + session(5, "AUTH PLAIN not*base64", "235 ok")
        try log.write(toFile: dir + "/2026-01-05.log", atomically: true, encoding: .utf8)
        let (files, _) = InputFiles.discover([dir])
        let found = FileSetReader.sessions(of: files).sessions
        #expect(found.map { $0.facts.auth.map { String(decoding: $0, as: UTF8.self) } } == ["user7@example.com", "user8", nil, nil, nil])
        // Through the index: the term; and a command whose reply is in the next day's
        // file, indexed by the next run (the command waits in the carry file).
        try """
        23:59:59.000 5 SMTPI-000009([192.0.2.9]) connected from [192.0.2.9]:40009
        23:59:59.500 4 SMTPI-000009([192.0.2.9]) cmd: AUTH PLAIN AGNhcnJpZWRAZXhhbXBsZS5jb20AcHc=

        """.write(toFile: dir + "/2026-01-05_23-00.log", atomically: true, encoding: .utf8)
        try """
        00:00:00.100 4 SMTPI-000009([192.0.2.9]) rsp: 235 ok
        00:00:00.200 5 SMTPI-000009([192.0.2.9]) releasing stream

        """.write(toFile: dir + "/2026-01-06.log", atomically: true, encoding: .utf8)
        _ = try index([dir + "/2026-01-05.log", dir + "/2026-01-05_23-00.log"], into: dir + "/idx")
        _ = try index([dir + "/2026-01-06.log"], into: dir + "/idx")
        let searcher = try Searcher(directory: dir + "/idx")
        #expect(try searcher.count(try Query.parse(["auth:USER7@example.com"])) == 1)
        #expect(try searcher.count(try Query.parse(["auth:user8"])) == 1)
        #expect(try searcher.count(try Query.parse(["auth:carried@example.com", "status:complete"])) == 1)
    }
}
