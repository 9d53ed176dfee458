import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexRead
@testable import MaildexSessionize
@testable import MaildexIndex
@testable import MaildexQuery
@testable import MaildexGenerate

/// The indexer's write pipeline: batches are encoded one at a time, appended in the
/// order they were submitted (with `afterLast` work in its place), and a failed append
/// stops every later one and is rethrown.
@Suite struct PipelineTests {
    final class Log: @unchecked Sendable {
        private let lock = NSLockLite()
        private var items: [String] = []
        func add(_ s: String) { lock.with { items.append(s) } }
        var all: [String] { lock.with { items } }
    }

    struct Boom: Error {}

    @Test(arguments: [false, true]) func appendsFollowSubmissionOrder(inline: Bool) throws {
        let pipeline = Indexer.WritePipeline(inline: inline, maxBacklog: 2)
        let log = Log()
        var expected = [String]()
        for i in 0..<40 {
            // Encodings of uneven length, so a later one could overtake if allowed to.
            try pipeline.submit(encode: { () -> Int in
                usleep(UInt32((i * 7919) % 5) * 200)
                return i
            }, append: { n in log.add("batch \(n)") })
            expected.append("batch \(i)")
            if i % 9 == 4 {
                try pipeline.afterLast { log.add("file end after \(i)") }
                expected.append("file end after \(i)")
            }
        }
        try pipeline.drain()
        #expect(log.all == expected)
    }

    @Test func aFailedAppendStopsTheRestAndIsRethrown() throws {
        let pipeline = Indexer.WritePipeline(inline: false)
        let log = Log()
        var thrown = false
        do {
            for i in 0..<20 {
                try pipeline.submit(encode: { i }, append: { n in
                    if n == 5 { throw Boom() }
                    log.add("batch \(n)")
                })
            }
            try pipeline.drain()
        } catch is Boom {
            thrown = true
        }
        #expect(thrown)
        #expect(log.all == (0..<5).map { "batch \($0)" })
        // The error stays: the segment behind it is unusable.
        #expect(throws: Boom.self) { try pipeline.drain() }
    }
}
