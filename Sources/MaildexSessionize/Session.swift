import MaildexSupport
import MaildexParse
import MaildexRead

/// One SMTP session, whole: its facts and its lines, verbatim, in log order,
/// each with where it came from.
public struct Session: Sendable, Equatable {
    /// Position in the index: sessions are numbered in order of their first line.
    public var number: UInt64
    /// The date of the file that holds the session's first line.
    public var date: CivilDate
    public var channel: ChannelKey
    /// Time of the first line, as written.
    public var start: [UInt8]
    /// Time of the closing record, as written; nil when the session is incomplete.
    public var end: [UInt8]?
    /// Opened and closed by its own records.
    public var complete: Bool
    public var facts: SessionFacts
    /// The lines' bytes, one after another, without line ends.
    public var text: [UInt8]
    public var lines: [SessionLine]

    public init(number: UInt64, date: CivilDate, channel: ChannelKey, start: [UInt8], end: [UInt8]?,
                complete: Bool, facts: SessionFacts, text: [UInt8], lines: [SessionLine]) {
        self.number = number; self.date = date; self.channel = channel; self.start = start; self.end = end
        self.complete = complete; self.facts = facts; self.text = text; self.lines = lines
    }

    public var lineID: UInt32 { channel.id }

    /// The bytes of line `i`.
    public func bytes(ofLine i: Int) -> ArraySlice<UInt8> {
        let l = lines[i]
        return text[Int(l.textOffset)..<Int(l.textOffset + l.length)]
    }
}

/// Where a session line stands in its source.
public struct SessionLine: Sendable, Equatable {
    /// Index in the index's source table.
    public var source: UInt32
    /// 1-based line number in the (uncompressed) file.
    public var lineNumber: UInt64
    /// Byte offset of the line's first byte in the (uncompressed) file.
    public var byteOffset: UInt64
    public var length: UInt32
    /// Where the line's bytes start in `Session.text`.
    public var textOffset: UInt32

    public init(source: UInt32, lineNumber: UInt64, byteOffset: UInt64, length: UInt32, textOffset: UInt32) {
        self.source = source; self.lineNumber = lineNumber; self.byteOffset = byteOffset
        self.length = length; self.textOffset = textOffset
    }
}
