import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

/// OR, NOT, parentheses and comma lists answer as the set algebra of the plain terms.
@Suite struct BooleanQueryTests {
    @Test func booleanFormsAreTheSetAlgebraOfTheirTerms() throws {
        let (logs, corpus) = try TestData.generate("boolean", dialect: .stalker, days: 3, sessionsPerDay: 200, recordLines: false)
        let dir = TestData.temporaryDirectory("boolean-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index(corpus.files.map(\.path), into: dir)
        let searcher = try Searcher(directory: dir)
        func set(_ terms: String) throws -> Set<UInt64> {
            Set(try searcher.search(Query.parse(terms.split(separator: " ").map(String.init))).numbers)
        }
        let all = try set("since:1900-01-01")
        let s = corpus.sessions
        let sender = try #require(s.compactMap { $0.from.first }.first { !$0.isEmpty })
        let recipient = try #require(s.compactMap { $0.to.first }.last)
        let peers = Array(Set(s.compactMap { $0.peer?.description })).sorted().prefix(2)
        let days = Array(Set(s.map(\.date))).sorted()
        let a = try set("from:\(sender)"), b = try set("to:\(recipient)")
        #expect(!a.isEmpty && !b.isEmpty && a != b)
        let day = try set("date:\(days[1])")

        #expect(try set("from:\(sender) OR to:\(recipient)") == a.union(b))
        #expect(try set("from:\(sender) -to:\(recipient)") == a.subtracting(b))
        #expect(try set("from:\(sender) NOT to:\(recipient)") == a.subtracting(b))
        #expect(try set("-to:\(recipient)") == all.subtracting(b))
        #expect(try set("NOT to:\(recipient)") == all.subtracting(b))
        #expect(try set("(from:\(sender) OR to:\(recipient)) date:\(days[1])") == a.union(b).intersection(day))
        #expect(try set("date:\(days[1]) -to:\(recipient)") == day.subtracting(b))
        #expect(try set("(from:\(sender) -to:\(recipient)) OR to:\(recipient)") == a.union(b))
        #expect(try set("NOT (from:\(sender) OR to:\(recipient))") == all.subtracting(a.union(b)))
        #expect(try set("ip:\(peers[0]),\(peers[1])") == set("ip:\(peers[0])").union(set("ip:\(peers[1])")))
        #expect(try set("ip:\(peers[0]),\(peers[1]) -ip:\(peers[1])") == set("ip:\(peers[0])"))
        // Parentheses attached to terms, and inside them the same.
        #expect(try set("(from:\(sender) OR (to:\(recipient)))") == a.union(b))
        // A plain query parses as before: predicates only.
        #expect(try Query.parse(["from:\(sender)", "to:\(recipient)"]).groups.isEmpty)
    }

    @Test func relativeTimesCountBackFromNow() throws {
        let now = (try #require(CivilDate(iso: "2026-03-01")), Int32(10 * 3600 + 30 * 60))
        let q = try Query.parse(["since:7d"], now: now)
        #expect(q.fromDate == CivilDate(iso: "2026-02-22") && q.fromSecond == 10 * 3600 + 30 * 60)
        let h = try Query.parse(["since:36h", "ip:192.0.2.1"], now: now)
        #expect(h.fromDate == CivilDate(iso: "2026-02-27") && h.fromSecond == 22 * 3600 + 30 * 60)
        let m = try Query.parse(["until:90m"], now: now)
        #expect(m.toDate == CivilDate(iso: "2026-03-01") && m.toSecond == 9 * 3600)
        #expect(try Query.parse(["since:0d"], now: now).fromDate == now.0)
        for bad in ["since:7x", "since:d", "since:-3d", "until:7dd"] {
            #expect(throws: MaildexError.self, "\(bad)") { try Query.parse([bad], now: now) }
        }
    }

    @Test func malformedBooleanFormsAreSyntaxErrorsWithTheirPosition() {
        let bad: [([String], Int?)] = [
            (["(ip:192.0.2.1"], 0), (["ip:192.0.2.1)"], 0), (["OR", "ip:192.0.2.1"], 0), (["ip:192.0.2.1", "OR"], 1),
            (["NOT"], 0), (["()"], 0), (["(since:2026-01-01", "OR", "ip:192.0.2.1)"], 0), (["-date:2026-01-01"], 0),
            (["line:SMTP-1", "OR", "line:2"], 0), (["ip:192.0.2.1,"], 0), (["date:2026-01-01,2026-01-02"], 0),
        ]
        for (terms, position) in bad {
            do {
                _ = try Query.parse(terms)
                Issue.record("\(terms) parsed")
            } catch let e as MaildexError {
                #expect(e.kind == .syntax, "\(terms)")
                #expect(e.position == position, "\(terms): \(e)")
                #expect(e.accepted == Query.syntax)
            } catch { Issue.record("\(terms): \(error)") }
        }
    }
}
