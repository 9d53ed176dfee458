import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The byte form of sessions inside a store block (see FORMAT.md, "Store block").
///
/// A block's payload is three columns, each compressing best with its own kind:
/// the sessions' metadata (numbers and where each line came from), the line ops
/// (`LineCoder`) and the text. A session's facts (peer, HELO, addresses, message
/// ids) and its start and end times are not stored: they are read again from its
/// lines, by the same rules that found them (`SessionRules`), when it is decoded.
public enum SessionCodec {
    static let flagComplete: UInt8 = 1
    /// The session's byte offsets are stored with its lines (carry files). Without it,
    /// offsets come from the sources' line tables, and decoding leaves them 0 for the
    /// index reader to fill in (`IndexReader.resolveOffsets`).
    static let flagOffsets: UInt8 = 2

    /// Encodes a block of sessions; returns the payload and the offset of each
    /// session's metadata in it.
    public static func encodeBlock(_ sessions: ArraySlice<Session>, inlineOffsets: Bool = true) -> (bytes: [UInt8], offsets: [UInt32]) {
        encodeBlock(sessions.map(SessionRecord.init(session:))[...], inlineOffsets: inlineOffsets)
    }

    static func encodeBlock(_ records: ArraySlice<SessionRecord>, inlineOffsets: Bool) -> (bytes: [UInt8], offsets: [UInt32]) {
        withEncodedBlock(records, inlineOffsets: inlineOffsets) { parts, offsets in
            var bytes = [UInt8]()
            bytes.reserveCapacity(parts.reduce(0) { $0 + $1.count })
            for p in parts { bytes.append(contentsOf: p) }
            return (bytes, offsets)
        }
    }

    /// Encodes a block and gives `body` the payload in parts (the column lengths,
    /// metadata, ops, text), valid during the call, for a compressor that takes them as
    /// they are; offsets are payload offsets.
    static func withEncodedBlock<R>(_ records: ArraySlice<SessionRecord>, inlineOffsets: Bool,
                                    _ body: ([UnsafeRawBufferPointer], [UInt32]) -> R) -> R {
        var lines = 0, textBytes = 0
        for r in records { lines += r.lineCount; textBytes += r.textBytes }
        // Room for every column up front: the text never holds more than the lines and a
        // newline each; the metadata and ops take a few bytes a line.
        var meta = ByteAppender(capacity: records.count * 16 + lines * 5)
        var ops = ByteAppender(capacity: lines * 3)
        var text = ByteAppender(capacity: textBytes + lines)
        var offsets = [UInt32]()
        offsets.reserveCapacity(records.count)
        var coder = LineEncoder()
        for r in records {
            offsets.append(UInt32(meta.count))
            encode(r, meta: &meta, ops: &ops, text: &text, coder: &coder, inlineOffsets: inlineOffsets)
        }
        var header = ByteWriter()
        header.varint(UInt64(meta.count))
        header.varint(UInt64(ops.count))
        let shift = UInt32(header.bytes.count)
        for i in offsets.indices { offsets[i] += shift }
        return header.bytes.withUnsafeBytes { h in
            meta.withBytes { m in ops.withBytes { o in text.withBytes { t in body([h, m, o, t], offsets) } } }
        }
    }

    static func encode(_ s: SessionRecord, meta w: inout ByteAppender, ops: inout ByteAppender, text: inout ByteAppender,
                       coder: inout LineEncoder, inlineOffsets: Bool) {
        w.varint(s.number)
        w.zigzag(Int64(s.date.daysSinceEpoch))
        w.varint(s.channel.raw)
        w.append((s.complete ? flagComplete : 0) | (inlineOffsets ? flagOffsets : 0))
        w.varint(UInt64(s.lineCount))
        // Where the session's ops and text start in their columns; then, per line,
        // its source, line number and byte offset (deltas within a source).
        w.varint(UInt64(ops.count))
        w.varint(UInt64(text.count))
        var source: UInt32 = 0, lineNumber: UInt64 = 0, offset: UInt64 = 0
        coder.reset()
        s.forEachLine { src, number, byteOffset, bytes, header in
            w.varint(UInt64(src))
            if src != source { lineNumber = 0; offset = 0; source = src }
            w.zigzag(Int64(bitPattern: number &- lineNumber))
            if inlineOffsets { w.zigzag(Int64(bitPattern: byteOffset &- predictedOffset(number, after: lineNumber, offset))) }
            lineNumber = number
            offset = byteOffset
            coder.encode(bytes, header: header, ops: &ops, text: &text)
        }
    }

    /// Where line `number` probably starts, given that line `previous` of the same
    /// source starts at `offset`: the lines between are taken to be as long as the
    /// file's lines before `previous` were on average. Where offsets are stored inline
    /// (carry files), only the difference to this guess is: a session's lines lie
    /// hundreds of lines apart in an interleaved log, and the guess halves their bytes.
    /// Wrapping arithmetic: a corrupt block gives wrong offsets, never a trap.
    @inline(__always)
    static func predictedOffset(_ number: UInt64, after previous: UInt64, _ offset: UInt64) -> UInt64 {
        guard previous > 1, number > previous, offset < 1 << 48 else { return offset }
        let average = (offset << 8) / (previous - 1)  // bytes per line, in 1/256ths
        return offset &+ ((number &- previous) &* average) >> 8
    }

    public struct Corrupt: Error, CustomStringConvertible {
        public var description: String { "session record is malformed" }
    }

    /// A block's three columns.
    struct Columns {
        var meta: UnsafeRawBufferPointer
        var ops: UnsafeRawBufferPointer
        var text: UnsafeRawBufferPointer
        var metaStart: Int

        init(_ block: UnsafeRawBufferPointer) throws {
            var h = ByteReader(block)
            guard let m = try? h.varint(), let o = try? h.varint(), m <= UInt64(block.count - h.position),
                  o <= UInt64(block.count - h.position) - m else { throw Corrupt() }
            metaStart = h.position
            let metaEnd = h.position + Int(m), opsEnd = metaEnd + Int(o)
            // The metadata column is read with positions relative to the block.
            meta = UnsafeRawBufferPointer(rebasing: block[0..<metaEnd])
            ops = UnsafeRawBufferPointer(rebasing: block[metaEnd..<opsEnd])
            text = UnsafeRawBufferPointer(rebasing: block[opsEnd...])
        }
    }

    /// Decodes the session whose metadata starts at `offset` in `block`.
    public static func decode(block: UnsafeRawBufferPointer, offset: Int) throws -> Session {
        let c = try Columns(block)
        guard offset >= c.metaStart else { throw Corrupt() }
        var r = ByteReader(c.meta, at: offset)
        return try decode(&r, c)
    }

    /// Decodes every session of a block, in order.
    public static func decodeAll(block: UnsafeRawBufferPointer, count: Int) throws -> [Session] {
        var offsets = [UInt32]()
        return try decodeAll(block: block, count: count, offsets: &offsets)
    }

    /// Decodes every session of a block, in order, and where each one's record starts.
    static func decodeAll(block: UnsafeRawBufferPointer, count: Int, offsets: inout [UInt32]) throws -> [Session] {
        let c = try Columns(block)
        var r = ByteReader(c.meta, at: c.metaStart)
        // Every record takes more than one byte: a count larger than that is corrupt.
        guard count >= 0, count <= c.meta.count else { throw Corrupt() }
        offsets.removeAll(keepingCapacity: true)
        return try (0..<count).map { _ in
            offsets.append(UInt32(r.position))
            return try decode(&r, c)
        }
    }

    static func decode(_ r: inout ByteReader, _ c: Columns) throws -> Session {
        do {
            let number = try r.varint()
            let date = CivilDate(daysSinceEpoch: Int32(truncatingIfNeeded: try r.zigzag()))
            let channel = ChannelKey(raw: try r.varint())
            let flags = try r.u8()
            guard flags & ~(flagComplete | flagOffsets) == 0 else { throw Corrupt() }
            let count = try r.varint()
            let opsStart = try r.varint(), textStart = try r.varint()
            guard count <= UInt64(c.meta.count), opsStart <= UInt64(c.ops.count), textStart <= UInt64(c.text.count)
            else { throw Corrupt() }
            var ops = ByteReader(c.ops, at: Int(opsStart))
            var lines = [SessionLine]()
            lines.reserveCapacity(Int(count))
            var text = [UInt8]()
            var at = Int(textStart)
            var coder = LineDecoder()
            var source: UInt32 = 0, lineNumber: UInt64 = 0, offset: UInt64 = 0
            for _ in 0..<count {
                let src = UInt32(truncatingIfNeeded: try r.varint())
                if src != source { lineNumber = 0; offset = 0; source = src }
                let number = lineNumber &+ UInt64(bitPattern: try r.zigzag())
                if flags & flagOffsets != 0 {
                    offset = predictedOffset(number, after: lineNumber, offset) &+ UInt64(bitPattern: try r.zigzag())
                }
                lineNumber = number
                let textOffset = text.count
                try coder.decode(ops: &ops, column: c.text, at: &at, into: &text)
                guard text.count - textOffset <= Int(UInt32.max), text.count <= Int(UInt32.max) else { throw Corrupt() }
                lines.append(SessionLine(source: src, lineNumber: lineNumber, byteOffset: offset,
                                         length: UInt32(text.count - textOffset), textOffset: UInt32(textOffset)))
            }
            guard !lines.isEmpty else { throw Corrupt() }
            let complete = flags & flagComplete != 0
            let (facts, start, last) = SessionRules.reread(text: text, lines: lines, channel: channel)
            return Session(number: number, date: date, channel: channel, start: start, end: complete ? last : nil,
                           complete: complete, facts: facts, text: text, lines: lines)
        } catch is ByteReader.OutOfBounds {
            throw Corrupt()
        }
    }
}
