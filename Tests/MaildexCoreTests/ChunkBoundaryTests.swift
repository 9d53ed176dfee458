import Foundation
import Testing
@testable import MaildexSupport
@testable import MaildexParse
@testable import MaildexSessionize

/// Inputs the fuzzers found where the cuts between parse chunks changed a session.
@Suite struct ChunkBoundaryTests {
    /// FuzzIndex: a Stalker session whose opening record is damaged (`Stream Cre#ted`)
    /// and that holds a record of CommuniGate's outbound form (`cmd:`). Whether its first
    /// record opened it was decided on the facts of the fragment it began, so by every
    /// record in the same chunk: complete read whole, incomplete cut before the `cmd:`.
    /// Only the first record decides now: incomplete, however cut.
    @Test func whetherAFragmentOpensASessionDoesNotDependOnTheChunks() throws {
        let text = try TestData.fixture("chunk-complete.log")
        let date = CivilDate(iso: "2020-01-01")!
        let one = Sessionizer.sessions(of: text, date: date, threads: 1, chunkSize: text.count + 1).sessions
        #expect(one.count == 1 && !one[0].complete)
        for chunk in 1...300 {
            let cut = Sessionizer.sessions(of: text, date: date, threads: 2, chunkSize: chunk).sessions
            #expect(cut.map(\.complete) == one.map(\.complete), "chunks of \(chunk)")
            #expect(cut == one, "chunks of \(chunk)")
            if cut != one { break }
        }
    }

    /// FuzzSessions: a CommuniGate session named by an address-like context in one
    /// fragment and given its HELO by a command in the next: the command's name wins,
    /// as it does when both are in one fragment.
    @Test func aHeloCommandInALaterChunkWinsOverTheChannelsName() throws {
        let text = try TestData.fixture("helo-from-context.log")
        let date = CivilDate(iso: "2020-01-01")!
        let one = Sessionizer.sessions(of: text, date: date, threads: 1, chunkSize: text.count + 1).sessions
        #expect(one.contains { $0.facts.helo == Array("desk32".utf8) })
        for chunk in 1...300 {
            let cut = Sessionizer.sessions(of: text, date: date, threads: 2, chunkSize: chunk).sessions
            #expect(cut.map(\.facts) == one.map(\.facts), "chunks of \(chunk)")
            if cut.map(\.facts) != one.map(\.facts) { break }
        }
    }
}
