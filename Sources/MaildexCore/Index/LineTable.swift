/// Where every line of a source file starts (FORMAT.md, "Line tables").
///
/// The store keeps each session line's source and line number; its byte offset
/// comes from its file's line table: the length of every line, in blocks of
/// `linesPerBlock`, each block zstd-compressed and headed by the offset of its
/// first line. A session's lines lie hundreds of lines apart in an interleaved log,
/// so storing their offsets took three bytes a line; the table takes about one
/// byte a line of the file, compressed to less.
enum LineTable {
    static let linesPerBlock = 4096

    /// Collects the line lengths of one file, in order, as they are parsed.
    struct Builder {
        private(set) var lengths: [UInt32] = []

        mutating func append(_ chunk: [UInt32]) { lengths.append(contentsOf: chunk) }
        var lineCount: Int { lengths.count }

        /// The table's bytes: u32 source, u64 lines, u32 lines per block, u32 blocks;
        /// per block u64 offset of its first line and u32 compressed length; then the
        /// blocks (varint lengths, zstd).
        func encode(source: UInt32, compressor: Zstd.BlockCompressor) -> [UInt8] {
            let blocks = (lengths.count + LineTable.linesPerBlock - 1) / LineTable.linesPerBlock
            var head = ByteWriter(capacity: 20 + blocks * 12)
            head.u32(source); head.u64(UInt64(lengths.count)); head.u32(UInt32(LineTable.linesPerBlock)); head.u32(UInt32(blocks))
            var body = [UInt8]()
            var offset: UInt64 = 0
            var raw = [UInt8]()
            for b in 0..<blocks {
                let range = (b * LineTable.linesPerBlock)..<min(lengths.count, (b + 1) * LineTable.linesPerBlock)
                raw.removeAll(keepingCapacity: true)
                for i in range { appendVarint(UInt64(lengths[i]), to: &raw) }
                let packed = raw.withUnsafeBytes { compressor.compress([$0]) }
                head.u64(offset); head.u32(UInt32(packed.count))
                body += packed
                for i in range { offset += UInt64(lengths[i]) + 1 }
            }
            return head.bytes + body
        }
    }

    /// One source's table, as read from a segment.
    struct Entry {
        var lines: UInt64
        var perBlock: Int
        /// Per block: offset of its first line, and its compressed bytes' range in the table.
        var blocks: [(offset: UInt64, bytes: Range<Int>)]
    }

    /// Parses one table (as `Builder.encode` wrote it).
    static func entry(_ t: UnsafeRawBufferPointer) throws -> (source: UInt32, entry: Entry) {
        var r = ByteReader(t)
        let source = try r.u32(), lines = try r.u64(), perBlock = Int(try r.u32()), blocks = Int(try r.u32())
        guard perBlock > 0, perBlock <= 1 << 20, blocks <= t.count / 12,
              lines <= UInt64(blocks) * UInt64(perBlock) else { throw ByteReader.OutOfBounds() }
        var heads = [(UInt64, Int)]()
        for _ in 0..<blocks { heads.append((try r.u64(), Int(try r.u32()))) }
        var list = [(offset: UInt64, bytes: Range<Int>)]()
        for (offset, length) in heads {
            guard length <= t.count - r.position else { throw ByteReader.OutOfBounds() }
            list.append((offset, r.position..<(r.position + length)))
            r.position += length
        }
        return (source, Entry(lines: lines, perBlock: perBlock, blocks: list))
    }

    /// The start offset of each line of a block, from its compressed lengths.
    static func offsets(block: UnsafeRawBufferPointer, first: UInt64, lines: Int) throws -> [UInt64] {
        let frames = Zstd.frames(block)
        guard frames.error == nil, frames.frames.count == 1 else { throw ByteReader.OutOfBounds() }
        let raw = try Zstd.decompressFrame(block, frames.frames[0], limit: lines * 10 + 16)
        var out = [UInt64]()
        out.reserveCapacity(lines)
        try raw.withUnsafeBytes { b in
            var r = ByteReader(b)
            var at = first
            for _ in 0..<lines {
                out.append(at)
                at &+= try r.varint() &+ 1
            }
        }
        return out
    }
}
