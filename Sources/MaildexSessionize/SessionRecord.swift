import MaildexSupport
import MaildexParse
import MaildexRead

/// What the store and the term index need of one session: a built `Session`, or
/// the fragments the stitcher joined (the indexer's path, which copies each line
/// once, straight into the block). A class: a block's records are passed around and
/// read several times, and copying one is then one reference count, not one per field.
package final class SessionRecord {
    package let number: UInt64
    package let date: CivilDate
    package let channel: ChannelKey
    package let complete: Bool
    /// The first record's time of day, in seconds (for the session table).
    package let startSecond: Int32
    package let facts: SessionFacts
    package let lineCount: Int
    package let textBytes: Int
    /// The server whose logs hold the session (`index --server`), if named; set by the
    /// writer before the session's terms are made.
    package var server: [UInt8]?
    /// The source of the session's first line.
    package let firstSource: UInt32
    /// Calls its argument with each line: source, line number, byte offset, bytes, and
    /// its header's shape if the parser gave it (`LineHeader`, else 0).
    package let forEachLine: ((UInt32, UInt64, UInt64, UnsafeRawBufferPointer, UInt32) -> Void) -> Void

    package init(session s: Session) {
        number = s.number; date = s.date; channel = s.channel; complete = s.complete
        startSecond = s.start.withUnsafeBytes { RecordParser.secondOfDay($0) }
        facts = s.facts; lineCount = s.lines.count; textBytes = s.text.count
        firstSource = s.lines.first?.source ?? 0
        forEachLine = { body in
            s.text.withUnsafeBytes { t in
                for l in s.lines {
                    body(l.source, l.lineNumber, l.byteOffset,
                         UnsafeRawBufferPointer(rebasing: t[Int(l.textOffset)..<Int(l.textOffset + l.length)]), 0)
                }
            }
        }
    }

    package init(number: UInt64, date: CivilDate, channel: ChannelKey, complete: Bool, startSecond: Int32,
         facts: SessionFacts, lineCount: Int, textBytes: Int, firstSource: UInt32,
         forEachLine: @escaping ((UInt32, UInt64, UInt64, UnsafeRawBufferPointer, UInt32) -> Void) -> Void) {
        self.number = number; self.date = date; self.channel = channel; self.complete = complete
        self.startSecond = startSecond; self.facts = facts; self.lineCount = lineCount; self.textBytes = textBytes
        self.firstSource = firstSource
        self.forEachLine = forEachLine
    }
}
