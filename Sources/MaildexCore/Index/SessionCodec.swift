/// The byte form of a session inside a store block (see FORMAT.md, "Session record").
public enum SessionCodec {
    static let flagComplete: UInt8 = 1, flagTLS: UInt8 = 2, flagPeer: UInt8 = 4, flagPort: UInt8 = 8
    static let flagHelo: UInt8 = 16, flagAuth: UInt8 = 32, flagEnd: UInt8 = 64

    /// Encodes a block of sessions: a varint length, the sessions' metadata, then
    /// all their text (each line followed by `\n`). Keeping the text apart from the
    /// binary metadata lets zstd compress each better. Returns the offset of each
    /// session's metadata in the block.
    public static func encodeBlock(_ sessions: ArraySlice<Session>) -> (bytes: [UInt8], offsets: [UInt32]) {
        encodeBlock(sessions.map(SessionRecord.init(session:))[...])
    }

    static func encodeBlock(_ records: ArraySlice<SessionRecord>) -> (bytes: [UInt8], offsets: [UInt32]) {
        let (parts, offsets) = encodeBlockParts(records)
        return (parts.header + parts.meta + parts.text, offsets)
    }

    /// The block payload in its three parts (length varint, metadata, text), for a
    /// compressor that takes them without concatenating; offsets are payload offsets.
    static func encodeBlockParts(_ records: ArraySlice<SessionRecord>)
        -> (parts: (header: [UInt8], meta: [UInt8], text: [UInt8]), offsets: [UInt32]) {
        var meta = ByteWriter(capacity: records.count * 256)
        var text = ByteWriter(capacity: records.reduce(0) { $0 + $1.textBytes + $1.lineCount })
        var offsets = [UInt32]()
        for r in records {
            offsets.append(UInt32(meta.bytes.count))
            encode(r, meta: &meta, text: &text)
        }
        var header = ByteWriter()
        header.varint(UInt64(meta.bytes.count))
        let shift = UInt32(header.bytes.count)
        return ((header.bytes, meta.bytes, text.bytes), offsets.map { $0 + shift })
    }

    static func encode(_ s: SessionRecord, meta w: inout ByteWriter, text: inout ByteWriter) {
        w.varint(s.number)
        w.zigzag(Int64(s.date.daysSinceEpoch))
        w.varint(s.channel.raw)
        var flags: UInt8 = 0
        if s.complete { flags |= flagComplete }
        if s.facts.tls { flags |= flagTLS }
        if s.facts.peer != nil { flags |= flagPeer }
        if s.facts.port != nil { flags |= flagPort }
        if s.facts.helo != nil { flags |= flagHelo }
        if s.facts.auth != nil { flags |= flagAuth }
        if s.end != nil { flags |= flagEnd }
        w.u8(flags)
        w.blob(s.start)
        if let e = s.end { w.blob(e) }
        if let p = s.facts.peer { w.u64(p.high); w.u64(p.low) }
        if let p = s.facts.port { w.varint(UInt64(max(0, p))) }
        if let h = s.facts.helo { w.blob(h) }
        if let a = s.facts.auth { w.blob(a) }
        for list in [s.facts.from, s.facts.to, s.facts.rejected, s.facts.messages] {
            w.varint(UInt64(list.count))
            for a in list { w.blob(a) }
        }
        w.varint(UInt64(s.lineCount))
        // Where the session's text starts in the block's text column; then per line
        // its provenance and its op (LineCoder), the op's text going to the column.
        w.varint(UInt64(text.bytes.count))
        var source: UInt32 = 0, lineNumber: UInt64 = 0, offset: UInt64 = 0
        var coder = LineEncoder()
        s.forEachLine { src, number, byteOffset, bytes in
            w.varint(UInt64(src))
            if src != source { lineNumber = 0; offset = 0; source = src }
            w.zigzag(Int64(bitPattern: number &- lineNumber))
            w.zigzag(Int64(bitPattern: byteOffset &- offset))
            lineNumber = number
            offset = byteOffset
            coder.encode(bytes, meta: &w, text: &text.bytes)
        }
    }

    public struct Corrupt: Error, CustomStringConvertible {
        public var description: String { "session record is malformed" }
    }

    /// Decodes the session whose metadata starts at `offset` in `block`.
    public static func decode(block: UnsafeRawBufferPointer, offset: Int) throws -> Session {
        var h = ByteReader(block)
        guard let metaLength = try? h.varint(), metaLength <= UInt64(block.count - h.position) else { throw Corrupt() }
        let textColumn = UnsafeRawBufferPointer(rebasing: block[(h.position + Int(metaLength))...])
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: block[0..<(h.position + Int(metaLength))]), at: offset)
        return try decode(&r, text: textColumn)
    }

    /// Decodes every session of a block, in order.
    public static func decodeAll(block: UnsafeRawBufferPointer, count: Int) throws -> [Session] {
        var h = ByteReader(block)
        guard let metaLength = try? h.varint(), metaLength <= UInt64(block.count - h.position) else { throw Corrupt() }
        let textColumn = UnsafeRawBufferPointer(rebasing: block[(h.position + Int(metaLength))...])
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: block[0..<(h.position + Int(metaLength))]), at: h.position)
        // Every record takes more than one byte: a count larger than that is corrupt.
        guard count >= 0, UInt64(count) <= metaLength else { throw Corrupt() }
        return try (0..<count).map { _ in try decode(&r, text: textColumn) }
    }

    static func decode(_ r: inout ByteReader, text column: UnsafeRawBufferPointer) throws -> Session {
        do {
            let number = try r.varint()
            let date = CivilDate(daysSinceEpoch: Int32(truncatingIfNeeded: try r.zigzag()))
            let channel = ChannelKey(raw: try r.varint())
            let flags = try r.u8()
            let start = try r.blob()
            let end = flags & flagEnd != 0 ? try r.blob() : nil
            var facts = SessionFacts()
            if flags & flagPeer != 0 { facts.peer = IPAddress(high: try r.u64(), low: try r.u64()) }
            if flags & flagPort != 0 { facts.port = Int(truncatingIfNeeded: try r.varint()) }
            if flags & flagHelo != 0 { facts.helo = try r.blob() }
            if flags & flagAuth != 0 { facts.auth = try r.blob() }
            facts.tls = flags & flagTLS != 0
            var lists = [[[UInt8]]]()
            for _ in 0..<4 {
                let n = try r.varint()
                guard n <= UInt64(r.buffer.count) else { throw Corrupt() }
                var list = [[UInt8]]()
                for _ in 0..<n { list.append(try r.blob()) }
                lists.append(list)
            }
            facts.from = lists[0]; facts.to = lists[1]; facts.rejected = lists[2]; facts.messages = lists[3]
            let count = try r.varint()
            guard count <= UInt64(r.buffer.count) else { throw Corrupt() }
            let textStart = try r.varint()
            guard textStart <= UInt64(column.count) else { throw Corrupt() }
            var lines = [SessionLine]()
            lines.reserveCapacity(Int(min(count, UInt64(r.buffer.count - r.position))))
            var text = [UInt8]()
            var at = Int(textStart)
            var coder = LineDecoder()
            var source: UInt32 = 0, lineNumber: UInt64 = 0, offset: UInt64 = 0
            for _ in 0..<count {
                let src = UInt32(truncatingIfNeeded: try r.varint())
                if src != source { lineNumber = 0; offset = 0; source = src }
                lineNumber = lineNumber &+ UInt64(bitPattern: try r.zigzag())
                offset = offset &+ UInt64(bitPattern: try r.zigzag())
                let textOffset = text.count
                try coder.decode(meta: &r, column: column, at: &at, into: &text)
                guard text.count - textOffset <= Int(UInt32.max) else { throw Corrupt() }
                lines.append(SessionLine(source: src, lineNumber: lineNumber, byteOffset: offset,
                                         length: UInt32(text.count - textOffset), textOffset: UInt32(textOffset)))
            }
            return Session(number: number, date: date, channel: channel, start: start, end: end,
                           complete: flags & flagComplete != 0, facts: facts, text: text, lines: lines)
        } catch is ByteReader.OutOfBounds {
            throw Corrupt()
        }
    }
}

/// What the store and the term index need of one session: a built `Session`, or
/// the fragments the stitcher joined (the indexer's path, which copies each line
/// once, straight into the block).
struct SessionRecord {
    var number: UInt64
    var date: CivilDate
    var channel: ChannelKey
    var complete: Bool
    var start: [UInt8]
    var end: [UInt8]?
    var facts: SessionFacts
    var lineCount: Int
    var textBytes: Int
    /// Calls its argument with each line: source, line number, byte offset, bytes.
    var forEachLine: ((UInt32, UInt64, UInt64, UnsafeRawBufferPointer) -> Void) -> Void

    init(session s: Session) {
        number = s.number; date = s.date; channel = s.channel; complete = s.complete; start = s.start; end = s.end
        facts = s.facts; lineCount = s.lines.count; textBytes = s.text.count
        forEachLine = { body in
            s.text.withUnsafeBytes { t in
                for l in s.lines {
                    body(l.source, l.lineNumber, l.byteOffset,
                         UnsafeRawBufferPointer(rebasing: t[Int(l.textOffset)..<Int(l.textOffset + l.length)]))
                }
            }
        }
    }

    init(number: UInt64, date: CivilDate, channel: ChannelKey, complete: Bool, start: [UInt8], end: [UInt8]?,
         facts: SessionFacts, lineCount: Int, textBytes: Int,
         forEachLine: @escaping ((UInt32, UInt64, UInt64, UnsafeRawBufferPointer) -> Void) -> Void) {
        self.number = number; self.date = date; self.channel = channel; self.complete = complete
        self.start = start; self.end = end; self.facts = facts; self.lineCount = lineCount; self.textBytes = textBytes
        self.forEachLine = forEachLine
    }
}
