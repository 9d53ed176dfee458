import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

@Suite struct SearcherTests {
    /// Queries of every kind, with values taken from the corpus's ground truth.
    static func queries(_ corpus: GeneratedCorpus) -> [[String]] {
        let s = corpus.sessions
        var out = [[String]]()
        func first<T>(_ f: (TruthSession) -> T?) -> T? { s.lazy.compactMap(f).first }
        if let p = first({ $0.peer }) {
            out.append(["ip:\(p)"])
            if p.isV4 {
                let parts = p.description.split(separator: ".")
                out.append(["ip:\(parts[0]).\(parts[1]).0.0/16"])
            }
        }
        if let a = first({ $0.from.first }) { out.append(["from:\(a)"]); out.append(["addr:\(a)"]) }
        if let a = first({ $0.to.first }) {
            out.append(["to:\(a)"])
            if let at = a.lastIndex(of: "@") { out.append(["domain:\(a[a.index(after: at)...])"]) }
        }
        if let h = first({ $0.helo }) { out.append(["helo:\(h)"]) }
        if let m = first({ $0.messages.first }) { out.append(["msg:\(m)"]) }
        let d = s[s.count / 2].date
        out.append(["line:\(s[s.count / 2].channel.id)", "date:\(d)"])
        out.append(["line:\(s[3].channel.id)"])
        out.append(["date:\(d)"])
        out.append(["since:\(d)T06:00", "until:\(d)T18:00"])
        out.append(["since:2000-01-01"])
        return out
    }

    /// What one thread saw: the query, the state, a page's cursor and the answer.
    struct Page {
        var terms: [String]
        var order: Order
        var cursor: Cursor?
        var result: SearchResult
        var text: [UInt8]
    }

    final class Pages: @unchecked Sendable {
        let lock = NSLock()
        var pages: [Page] = []
        var failures: [String] = []
        func add(_ p: Page) { lock.lock(); pages.append(p); lock.unlock() }
        func fail(_ s: String) { lock.lock(); failures.append(s); lock.unlock() }
    }

    /// Eight threads query one searcher (every term kind, paged by cursor, transcripts
    /// with offsets) while runs commit twice and a compact merges: every page equals the
    /// answer one thread gets, alone, from the state that page saw.
    @Test func eightThreadsShareOneSearcherWhileRunsCommitAndMerge() throws {
        let (logs, corpus) = try TestData.generate("searcher", dialect: .cgp, days: 3, sessionsPerDay: 300, recordLines: false)
        let dir = TestData.temporaryDirectory("searcher-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([corpus.files[0].path], into: dir)
        let searcher = try Searcher(directory: dir, threads: 2)
        let queries = Self.queries(corpus).map { ($0, try! Query.parse($0)) }
        let pages = Pages()
        let writerDone = DispatchSemaphore(value: 0)
        let paths = UncheckedBox(corpus.files.map(\.path))
        final class Counts: @unchecked Sendable { var values: [Int] = []; var error: String? }
        let committed = Counts()
        // Each step of the writer waits until the readers have answered 20 more pages, so
        // every state is queried however the threads are scheduled.
        @Sendable func waitForPages(_ n: Int) {
            while true {
                pages.lock.lock(); let have = pages.pages.count + pages.failures.count; pages.lock.unlock()
                if have >= n { return }
                usleep(1000)
            }
        }
        DispatchQueue.global().async {
            do {
                waitForPages(20)
                _ = try index([paths.value[1]], into: dir, threads: 1, chunkSize: 4096)
                committed.values.append(try IndexReader(directory: dir).sessionCount)
                waitForPages(40)
                _ = try index([paths.value[2]], into: dir, threads: 1, chunkSize: 4096)
                committed.values.append(try IndexReader(directory: dir).sessionCount)
                waitForPages(60)
                _ = try Compactor.run(directory: dir, threads: 1)
            } catch { committed.error = "\(error)" }
            writerDone.signal()
        }
        final class Flag: @unchecked Sendable {
            private let lock = NSLock()
            private var value = false
            var done: Bool { get { lock.lock(); defer { lock.unlock() }; return value } set { lock.lock(); value = newValue; lock.unlock() } }
        }
        let flag = Flag()
        let group = DispatchGroup()
        for t in 0..<8 {
            DispatchQueue.global().async(group: group) {
                // Until a whole round has run after the writer was done (on the last state).
                var round = 0, finalRounds = 0
                while finalRounds < 1 {
                    let done = flag.done
                    defer { if done { finalRounds += 1 } }
                    let (terms, q) = queries[(t + round) % queries.count]
                    let order: Order = (t + round) % 2 == 0 ? .oldest : .newest
                    var cursor: Cursor? = nil
                    var pagesLeft = 4
                    repeat {
                        do {
                            let r = try searcher.search(q, order: order, limit: 5 + t, after: cursor)
                            var text = [UInt8]()
                            try searcher.render(r, as: .evidence) { text += $0 }
                            pages.add(Page(terms: terms, order: order, cursor: cursor, result: r, text: text))
                            cursor = r.next
                        } catch {
                            pages.fail("\(terms): \(error)"); break
                        }
                        pagesLeft -= 1
                    } while cursor != nil && pagesLeft > 0
                    round += 1
                }
            }
        }
        writerDone.wait()
        flag.done = true
        group.wait()
        #expect(committed.error == nil, "\(committed.error ?? "")")
        #expect(pages.failures.isEmpty, "\(pages.failures.prefix(3))")
        let start = try IndexReader(directory: dir)  // after the compact
        #expect(start.segments.count == 1)
        // Every page against the one-thread answer of the state it saw.
        var states = Set<ObjectIdentifier>(), counts = Set<Int>()
        for p in pages.pages {
            let index = p.result.index
            states.insert(ObjectIdentifier(index)); counts.insert(index.sessionCount)
            let all = try QueryEngine(index: index, threads: 1).matches(try Query.parse(p.terms))
            var expected = p.order == .oldest ? all : all.reversed()
            if let c = p.cursor { expected = expected.filter { p.order == .oldest ? $0 > c.after : $0 < c.after } }
            #expect(p.result.total == all.count, "\(p.terms)")
            #expect(Array(expected.prefix(p.result.numbers.count)) == p.result.numbers, "\(p.terms) \(p.order)")
            #expect((p.result.next == nil) == (expected.count == p.result.numbers.count), "\(p.terms)")
            var text = [UInt8]()
            for (k, s) in try index.sessions(p.result.numbers, threads: 1).enumerated() {
                text += SessionView(session: s, sourceName: index.sourceName).rendered(.evidence, position: k, sources: index.sources)
            }
            #expect(text == p.text, "\(p.terms): transcripts differ")
        }
        // The states seen were the committed ones: before, after each run, after the merge.
        let final = try IndexReader(directory: dir).sessionCount
        #expect(counts.isSubset(of: Set([try Self.count(of: corpus.files[0].path)] + committed.values + [final])), "\(counts)")
        #expect(states.count >= 2, "the searcher never saw a new state")
        #expect(pages.pages.count > 50)
    }

    /// Sessions of the index of one file alone.
    static func count(of path: String) throws -> Int {
        let dir = TestData.temporaryDirectory("searcher-one")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try index([path], into: dir)
        return try IndexReader(directory: dir).sessionCount
    }

    /// Paging by cursor gives every match once, in order, either way; a cursor of the
    /// other order or altered text is refused as a syntax error.
    @Test func pagingByCursorGivesEveryMatchOnceInOrder() throws {
        let (logs, corpus) = try TestData.generate("paging", dialect: .stalker, days: 1, sessionsPerDay: 200, recordLines: false)
        let dir = TestData.temporaryDirectory("paging-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index(corpus.files.map(\.path), into: dir)
        let searcher = try Searcher(directory: dir)
        let q = try Query.parse(["since:2000-01-01"])
        let all = try searcher.search(q).numbers
        #expect(try all.count == searcher.index().sessionCount && all == all.sorted())
        for order in Order.allCases {
            var got = [UInt64](), cursor: Cursor? = nil
            repeat {
                let r = try searcher.search(q, order: order, limit: 7, after: cursor)
                #expect(r.numbers.count <= 7 && r.total == all.count)
                got += r.numbers
                cursor = r.next
                if let c = cursor { #expect(try Cursor(c.description) == c) }
            } while cursor != nil
            #expect(got == (order == .oldest ? all : all.reversed()))
        }
        let c = try #require(try searcher.search(q, limit: 3).next)
        #expect(throws: MaildexError.self) { try searcher.search(q, order: .newest, limit: 3, after: c) }
        var text = Array(c.description.utf8)
        text[5] = text[5] == 48 ? 49 : 48
        #expect(throws: MaildexError.self) { try Cursor(String(decoding: text, as: UTF8.self)) }
        #expect(throws: MaildexError.self) { try Cursor("not a cursor") }
    }

    /// The histogram counts each match once, in its day or hour; `info` says what the
    /// index holds; the block cache gives the same sessions and stays within its bytes.
    @Test func histogramInfoAndBlockCacheAgreeWithTheSessions() throws {
        let (logs, corpus) = try TestData.generate("overview", dialect: .stalker, days: 3, sessionsPerDay: 150, recordLines: false)
        let dir = TestData.temporaryDirectory("overview-idx")
        defer { try? FileManager.default.removeItem(atPath: logs); try? FileManager.default.removeItem(atPath: dir) }
        _ = try index(corpus.files.map(\.path), into: dir)
        let searcher = try Searcher(directory: dir)
        let q = try Query.parse(["since:2000-01-01"])
        let result = try searcher.search(q)
        var sessions = [Session]()
        try searcher.forEachBatch(of: result) { _, batch in sessions += batch }
        var perDay = [CivilDate: Int](), perHour = [String: Int]()
        for s in sessions {
            perDay[s.date, default: 0] += 1
            let hour = String(decoding: s.start.prefix(2), as: UTF8.self)
            perHour["\(s.date)T\(hour)", default: 0] += 1
        }
        let days = try searcher.histogram(q, bucket: .day)
        #expect(days.total == sessions.count && days.bars.count == 3)
        for b in days.bars { #expect(b.sessions == perDay[b.date] ?? 0) }
        let hours = try searcher.histogram(q, bucket: .hour)
        #expect(hours.total == sessions.count)
        for b in hours.bars { #expect(b.sessions == perHour[b.label] ?? 0, "\(b.label)") }
        // A bar's terms select its sessions.
        for b in days.bars + hours.bars.prefix(5) {
            #expect(try searcher.count(Query.parse(b.terms.split(separator: " ").map(String.init))) == b.sessions)
        }
        // Left to choose: per day over three days, per hour over one.
        #expect(try searcher.histogram(q, bucket: nil) == days)
        let oneDay = try Query.parse([days.bars[1].terms])
        #expect(try searcher.histogram(oneDay, bucket: nil) == searcher.histogram(oneDay, bucket: .hour))
        #expect(try searcher.histogram(oneDay, bucket: nil).bucket == .hour)
        let info = try searcher.info()
        #expect(info.sessions == sessions.count && info.firstDate == days.bars.first?.date && info.lastDate == days.bars.last?.date)
        #expect(info.sourceFiles == corpus.files.count && info.segments >= 1)

        let cache = BlockCache.shared
        let before = cache.capacityBytes
        defer { cache.capacityBytes = before }
        cache.capacityBytes = 600 << 10
        for _ in 0..<2 {
            var again = [Session]()
            try searcher.forEachBatch(of: result) { _, batch in again += batch }
            #expect(again == sessions)
            #expect(cache.bytesHeld <= 600 << 10)
        }
        let one = try #require(try searcher.session(result.numbers[0]))
        #expect(one.session == sessions[0])
    }

    /// A query borrows at most its share of the budget's workers, and gives them back.
    @Test func threadBudgetLendsAtMostItsWorkers() {
        let budget = ThreadBudget(total: 4, perQuery: 3)
        budget.withThreads { a in
            #expect(a == 3)
            budget.withThreads { b in
                #expect(b == 2)  // one worker left of the three beyond the callers
                budget.withThreads { c in #expect(c == 1) }
            }
        }
        #expect(budget.available == 3)
    }

    /// Errors have kinds a front can act on, with the file and offset where known.
    @Test func errorsHaveKinds() throws {
        let empty = TestData.temporaryDirectory("no-index")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        do { _ = try Searcher(directory: empty); Issue.record("opened an empty directory") } catch let e as MaildexError {
            #expect(e.kind == .notFound && e.httpStatus == 404 && e.exitStatus == 2)
        }
        do { _ = try Query.parse(["ip:1.2.3.4", "rcpt:a@b.c"]); Issue.record("parsed") } catch let e as MaildexError {
            #expect(e.kind == .syntax && e.position == 1 && e.accepted == Query.syntax && e.httpStatus == 400)
        }
    }
}
