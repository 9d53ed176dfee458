import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

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
    /// Set in a table's lines-per-block word when a u64 first line follows (a maildex
    /// from before it reads the word as too many lines per block: malformed, not misread).
    static let continuesFlag: UInt32 = 1 << 31

    /// Collects the line lengths of one file, in order, as they are parsed; each full
    /// block is compressed at once, so a file of 20 million lines holds about 15 MB, not 80.
    struct Builder {
        /// 64-bit: a line cut across windows may be longer than 4 GiB.
        private var pending: [UInt64] = []
        private var blocks: [(offset: UInt64, bytes: [UInt8])] = []
        /// Offset of the first line of `pending`.
        private var offset: UInt64 = 0
        private(set) var lineCount = 0
        /// The number of the table's first line: 1, or the line after those an earlier
        /// run indexed of a file that has grown since.
        private(set) var firstLine: UInt64 = 1

        init() {}

        /// The table of a file read from byte `offset` on, where line `line` starts.
        init(offset: UInt64, line: UInt64) { self.offset = offset; firstLine = line }
        private var compressor: Zstd.BlockCompressor? = nil

        /// The next length appended is the rest of the last line.
        private var joinNext = false

        mutating func append(_ chunk: [UInt32]) {
            var lengths = chunk[...]
            if joinNext, let rest = lengths.first, !pending.isEmpty {
                pending[pending.count - 1] += UInt64(rest)
                lengths = lengths.dropFirst()
                joinNext = false
            }
            for length in lengths {
                // A full block is sealed when the next line comes, so the last line is
                // always still open to `joinLastToNext`.
                if pending.count == LineTable.linesPerBlock { seal() }
                pending.append(UInt64(length))
            }
            lineCount += lengths.count
        }

        /// The last line has no `\n` after it: a window was cut inside a line longer than
        /// any window, and the line's rest is the first length appended next. The two
        /// pieces are one line, under one number, as the sessions number them.
        mutating func joinLastToNext() {
            if !pending.isEmpty { joinNext = true }
        }

        private mutating func seal() {
            guard !pending.isEmpty else { return }
            if compressor == nil { compressor = Zstd.BlockCompressor(level: 3) }
            var raw = [UInt8]()
            raw.reserveCapacity(pending.count * 2)
            for l in pending { appendVarint(l, to: &raw) }
            let packed = raw.withUnsafeBytes { compressor!.compress([$0]) }
            blocks.append((offset, packed))
            for l in pending { offset += UInt64(l) + 1 }
            pending.removeAll(keepingCapacity: true)
        }

        /// The table's bytes: u32 source, u64 lines, u32 lines per block, u32 blocks;
        /// for a table whose first line is not line 1, `LineTable.continuesFlag` set in
        /// the lines per block and a u64 first line after them; per block u64 offset of
        /// its first line and u32 compressed length; then the blocks (varint lengths, zstd).
        mutating func encode(source: UInt32) -> [UInt8] {
            seal()
            var w = ByteWriter(capacity: 28 + blocks.count * 12 + blocks.reduce(0) { $0 + $1.bytes.count })
            let continues = firstLine != 1
            w.u32(source); w.u64(UInt64(lineCount))
            w.u32(UInt32(LineTable.linesPerBlock) | (continues ? LineTable.continuesFlag : 0)); w.u32(UInt32(blocks.count))
            if continues { w.u64(firstLine) }
            for b in blocks { w.u64(b.offset); w.u32(UInt32(b.bytes.count)) }
            for b in blocks { w.raw(b.bytes) }
            return w.bytes
        }
    }

    /// Collects a file's line lengths from the sessionizer as they are parsed.
    final class Collector: LineLengthSink {
        private var builder = Builder()
        func append(_ lengths: [UInt32]) { builder.append(lengths) }
        func joinLastToNext() { builder.joinLastToNext() }
        /// The table of the lines collected since the last call.
        func take() -> Builder {
            defer { builder = Builder() }
            return builder
        }
        /// The next file is read from byte `offset`, where line `line` starts.
        func begin(offset: UInt64, line: UInt64) { builder = Builder(offset: offset, line: line) }
    }

    /// One source's table, as read from a segment.
    struct Entry {
        var lines: UInt64
        /// The number of the table's first line (1 but for a file that grew, `Builder`).
        var firstLine: UInt64
        var perBlock: Int
        /// Per block: offset of its first line, and its compressed bytes' range in the table.
        var blocks: [(offset: UInt64, bytes: Range<Int>)]
    }

    /// Parses one table (as `Builder.encode` wrote it).
    static func entry(_ t: UnsafeRawBufferPointer) throws -> (source: UInt32, entry: Entry) {
        var r = ByteReader(t)
        let source = try r.u32(), lines = try r.u64(), word = try r.u32(), blocks = Int(try r.u32())
        let perBlock = Int(word & ~continuesFlag)
        let firstLine = word & continuesFlag != 0 ? try r.u64() : 1
        guard perBlock > 0, perBlock <= 1 << 20, blocks <= t.count / 12, firstLine >= 1, firstLine < 1 << 48,
              lines <= UInt64(blocks) * UInt64(perBlock) else { throw ByteReader.OutOfBounds() }
        var heads = [(UInt64, Int)]()
        for _ in 0..<blocks { heads.append((try r.u64(), Int(try r.u32()))) }
        var list = [(offset: UInt64, bytes: Range<Int>)]()
        for (offset, length) in heads {
            guard length <= t.count - r.position else { throw ByteReader.OutOfBounds() }
            list.append((offset, r.position..<(r.position + length)))
            r.position += length
        }
        return (source, Entry(lines: lines, firstLine: firstLine, perBlock: perBlock, blocks: list))
    }

    /// The start offset of each line of a block, from its compressed lengths (every
    /// length is read, the last included, so a short block is an error).
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

extension SegmentWriter {
    /// A directory (u32 count; per table u32 source, u32 0, u64 offset, u64 length,
    /// offsets from the section's start), then the tables.
    func writeLineTables(_ out: inout SegmentSections) throws {
        try out.write(.lineTables) { p in
            var w = ByteWriter()
            w.u32(UInt32(lineTables.count))
            var at = UInt64(4 + 24 * lineTables.count)
            for t in lineTables { w.u32(t.source); w.u32(0); w.u64(at); w.u64(UInt64(t.bytes.count)); at += UInt64(t.bytes.count) }
            try p.write(w.bytes, to: file)
            for t in lineTables { try p.write(t.bytes, to: file) }
        }
    }
}

extension SegmentReader {
    public func lineTableSources() throws -> [UInt32: Range<Int>] {
        if let d = cacheLock.with({ lineTableDirectoryCache }) { return d }
        let d = try readLineTableDirectory()
        cacheLock.with { lineTableDirectoryCache = d }
        return d
    }

    func readLineTableDirectory() throws -> [UInt32: Range<Int>] {
        let length = Int(sections[SegmentFormat.Section.lineTables.rawValue].length)
        guard length >= 4 else { return [:] }
        let n = Int(UInt32(littleEndian: try bytes(.lineTables, 0..<4).loadUnaligned(as: UInt32.self)))
        guard n <= (length - 4) / 24 else { throw IndexError.corrupt(file.path, "line table directory is malformed") }
        var r = ByteReader(try bytes(.lineTables, 4..<(4 + 24 * n)))
        var out = [UInt32: Range<Int>]()
        for _ in 0..<n {
            let source = try r.u32(); _ = try r.u32()
            let at = try r.u64(), count = try r.u64()
            guard at <= UInt64(length), count <= UInt64(length) - at else { throw IndexError.corrupt(file.path, "line table out of bounds") }
            out[source] = Int(at)..<Int(at + count)
        }
        return out
    }


    func cachedOffsets(_ b: LineBlock) -> [UInt64]? {
        cacheLock.with { lineBlockCache[LineBlockKey(source: b.source, block: b.block)] }
    }

    func cache(_ b: LineBlock, offsets: [UInt64]) {
        cacheLock.with {
            if lineBlockCache.count >= 256 { lineBlockCache.removeAll(keepingCapacity: true) }
            lineBlockCache[LineBlockKey(source: b.source, block: b.block)] = offsets
        }
    }

    /// The numbers of the first and last lines of `source`'s table, or nil if this segment
    /// holds none (or the table is empty).
    func lineRange(source: UInt32) throws -> ClosedRange<UInt64>? {
        guard let range = try lineTableSources()[source] else { return nil }
        do {
            let (id, e) = try LineTable.entry(try bytes(.lineTables, range))
            guard id == source else { throw ByteReader.OutOfBounds() }
            return e.lines == 0 ? nil : e.firstLine...(e.firstLine + e.lines - 1)
        } catch is ByteReader.OutOfBounds {
            throw IndexError.corrupt(file.path, "line table of source \(source) is malformed")
        }
    }

    /// The raw bytes of a source's line table (for `compact`).
    func encodedLineTable(_ source: UInt32) throws -> [UInt8]? {
        guard let range = try lineTableSources()[source] else { return nil }
        return Array(try bytes(.lineTables, range))
    }

    /// A block of a source's line table, located and its pages checked; `LineTable.offsets`
    /// decodes it on any thread while the segment stays open.
    struct LineBlock {
        var source: UInt32
        var block: Int
        var bytes: UnsafeRawBufferPointer
        var first: UInt64
        var lines: Int
    }

    /// The block of `source`'s line table that holds line `line` (1-based), and the
    /// line's index in it; nil if this segment holds no table for the source.
    func lineBlock(source: UInt32, line: UInt64) throws -> (block: LineBlock, index: Int)? {
        guard let range = try lineTableSources()[source] else { return nil }
        do {
            let e: LineTable.Entry
            if let known = cacheLock.with({ lineTableEntries[source] }) { e = known } else {
                let (id, entry) = try LineTable.entry(try bytes(.lineTables, range))
                guard id == source else { throw ByteReader.OutOfBounds() }
                cacheLock.with { lineTableEntries[source] = entry }
                e = entry
            }
            guard line >= e.firstLine, line - e.firstLine < e.lines else {
                throw IndexError.corrupt(file.path, "line \(line) of source \(source) is outside its line table")
            }
            let index = Int(line - e.firstLine), b = index / e.perBlock
            let block = e.blocks[b]
            let t = try bytes(.lineTables, (range.lowerBound + block.bytes.lowerBound)..<(range.lowerBound + block.bytes.upperBound))
            return (LineBlock(source: source, block: b, bytes: t, first: block.offset,
                              lines: min(e.perBlock, Int(e.lines) - b * e.perBlock)), index - b * e.perBlock)
        } catch is ByteReader.OutOfBounds {
            throw IndexError.corrupt(file.path, "line table of source \(source) is malformed")
        }
    }

    /// The start offset of every line of a located block (any thread).
    func offsets(_ b: LineBlock) throws -> [UInt64] {
        do { return try LineTable.offsets(block: b.bytes, first: b.first, lines: b.lines) } catch is ByteReader.OutOfBounds {
            throw IndexError.corrupt(file.path, "line table of source \(b.source) is malformed")
        } catch let e as Zstd.Failure {
            throw IndexError.corrupt(file.path, "line table of source \(b.source): \(e)")
        }
    }
}
