/// The byte form of a session inside a store block (see FORMAT.md, "Session record").
public enum SessionCodec {
    static let flagComplete: UInt8 = 1, flagTLS: UInt8 = 2, flagPeer: UInt8 = 4, flagPort: UInt8 = 8
    static let flagHelo: UInt8 = 16, flagAuth: UInt8 = 32, flagEnd: UInt8 = 64

    /// Encodes a block of sessions: a varint length, the sessions' metadata, then
    /// all their text (each session's lines joined by `\n`). Keeping the text apart
    /// from the binary metadata lets zstd compress each better. Returns the offset of
    /// each session's metadata in the block.
    public static func encodeBlock(_ sessions: ArraySlice<Session>) -> (bytes: [UInt8], offsets: [UInt32]) {
        var meta = ByteWriter(capacity: sessions.count * 256)
        var text = ByteWriter(capacity: sessions.reduce(0) { $0 + $1.text.count + $1.lines.count })
        var offsets = [UInt32]()
        for s in sessions {
            offsets.append(UInt32(meta.bytes.count))
            encode(s, meta: &meta, text: &text)
        }
        var out = ByteWriter(capacity: meta.bytes.count + text.bytes.count + 8)
        out.varint(UInt64(meta.bytes.count))
        let header = out.bytes.count
        out.raw(meta.bytes)
        out.raw(text.bytes)
        return (out.bytes, offsets.map { $0 + UInt32(header) })
    }

    static func encode(_ s: Session, meta w: inout ByteWriter, text: inout ByteWriter) {
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
        w.varint(UInt64(s.lines.count))
        var source: UInt32 = 0, lineNumber: UInt64 = 0, offset: UInt64 = 0
        for l in s.lines {
            w.varint(UInt64(l.source))
            if l.source != source { lineNumber = 0; offset = 0; source = l.source }
            w.zigzag(Int64(bitPattern: l.lineNumber &- lineNumber))
            w.zigzag(Int64(bitPattern: l.byteOffset &- offset))
            lineNumber = l.lineNumber
            offset = l.byteOffset
        }
        // The text: where it starts in the block's text column; each line ends with
        // `\n`, which no line contains, so their lengths need not be stored.
        w.varint(UInt64(text.bytes.count))
        for i in s.lines.indices {
            text.raw(s.bytes(ofLine: i))
            text.u8(10)
        }
    }

    public struct Corrupt: Error, CustomStringConvertible {
        public var description: String { "session record is malformed" }
    }

    /// Decodes the session whose metadata starts at `offset` in `block`.
    public static func decode(block: UnsafeRawBufferPointer, offset: Int) throws -> Session {
        var h = ByteReader(block)
        guard let metaLength = try? h.varint(), UInt64(h.position) + metaLength <= UInt64(block.count) else { throw Corrupt() }
        let textColumn = UnsafeRawBufferPointer(rebasing: block[(h.position + Int(metaLength))...])
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: block[0..<(h.position + Int(metaLength))]), at: offset)
        return try decode(&r, text: textColumn)
    }

    /// Decodes every session of a block, in order.
    public static func decodeAll(block: UnsafeRawBufferPointer, count: Int) throws -> [Session] {
        var h = ByteReader(block)
        guard let metaLength = try? h.varint(), UInt64(h.position) + metaLength <= UInt64(block.count) else { throw Corrupt() }
        let textColumn = UnsafeRawBufferPointer(rebasing: block[(h.position + Int(metaLength))...])
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: block[0..<(h.position + Int(metaLength))]), at: h.position)
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
            var lines = [SessionLine]()
            lines.reserveCapacity(Int(count))
            var source: UInt32 = 0, lineNumber: UInt64 = 0, offset: UInt64 = 0
            for _ in 0..<count {
                let src = UInt32(truncatingIfNeeded: try r.varint())
                if src != source { lineNumber = 0; offset = 0; source = src }
                lineNumber = lineNumber &+ UInt64(bitPattern: try r.zigzag())
                offset = offset &+ UInt64(bitPattern: try r.zigzag())
                lines.append(SessionLine(source: src, lineNumber: lineNumber, byteOffset: offset, length: 0, textOffset: 0))
            }
            // The lines' text: `count` lines, each ending in `\n`, from `textStart`.
            let textStart = try r.varint()
            guard textStart <= UInt64(column.count) else { throw Corrupt() }
            var at = Int(textStart)
            var text = [UInt8]()
            for i in 0..<lines.count {
                var end = at
                while end < column.count && column[end] != 10 { end += 1 }
                if end == column.count { throw Corrupt() }
                _ = i
                lines[i].textOffset = UInt32(text.count)
                lines[i].length = UInt32(end - at)
                text.append(contentsOf: column[at..<end])
                at = end + 1
            }
            return Session(number: number, date: date, channel: channel, start: start, end: end,
                           complete: flags & flagComplete != 0, facts: facts, text: text, lines: lines)
        } catch is ByteReader.OutOfBounds {
            throw Corrupt()
        }
    }
}
