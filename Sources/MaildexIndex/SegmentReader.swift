#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize
import CPlatform

/// Reads one segment file through a memory map. Opening checks the header, the
/// footer and the CRC tables; every page of a section is checked against its CRC
/// the first time it is read, and every store block when it is decompressed, so a
/// flipped byte anywhere is reported, never trusted.
///
/// Any number of threads may read one segment at once: the map and the section table
/// never change after open, a page's "checked" flag is an atomic byte, and the caches
/// (the last block, the term and line-table directories, decoded line blocks) sit
/// behind one lock that is never held while a page is checked or a block decompressed.
public final class SegmentReader: @unchecked Sendable {
    public let name: String
    let file: MappedFile
    let sections: [SegmentFormat.SectionInfo]
    /// One flag per page of each section (`pageFlagStart[s]` is section s's first),
    /// read and set atomically.
    private let pageFlags: UnsafeMutablePointer<UInt8>
    private let pageFlagStart: [Int]
    private let pageFlagCount: Int
    /// Guards every `var` below that is marked "(lock)".
    private let cacheLock = NSLockLite()
    /// The last store block decompressed (lock).
    private var blockCache: (index: Int, bytes: [UInt8])? = nil

    public let blockCount: Int
    public let sessionCount: Int

    /// Opens a segment; any malformed structure is reported as a corrupt index file.
    public static func open(_ path: String) throws -> SegmentReader {
        do { return try SegmentReader(path: path) } catch is ByteReader.OutOfBounds {
            throw IndexError.corrupt(path, "footer is malformed")
        }
    }

    public init(path: String) throws {
        name = String(path.split(separator: "/").last ?? Substring(path))
        file = try MappedFile(path: path)
        let b = file.bytes
        let n = b.count
        guard n >= SegmentFormat.headerSize + 16, Array(b[0..<8]) == SegmentFormat.headerMagic else {
            throw IndexError.corrupt(path, "not a maildex segment (bad header)")
        }
        var h = ByteReader(b, at: 8)
        let version = try h.u32()
        guard version == SegmentFormat.version else {
            throw MaildexError.unsupportedFormat(path, "segment", version: Int(version))
        }
        guard Array(b[(n - 8)..<n]) == SegmentFormat.footerMagic else { throw IndexError.corrupt(path, "bad footer magic (truncated?)") }
        var t = ByteReader(b, at: n - 16)
        let footerLength = Int(try t.u32()), footerCRC = try t.u32()
        guard footerLength <= n - 16 - SegmentFormat.headerSize else { throw IndexError.corrupt(path, "bad footer length") }
        let footerStart = n - 16 - footerLength
        let footer = UnsafeRawBufferPointer(rebasing: b[footerStart..<(n - 16)])
        guard CRC32C.checksum(footer) == footerCRC else { throw IndexError.corrupt(path, "footer checksum mismatch", offset: UInt64(footerStart)) }
        var f = ByteReader(footer)
        guard try f.u32() == SegmentFormat.version else { throw IndexError.corrupt(path, "footer version") }
        let count = Int(try f.u32())
        guard count >= SegmentFormat.Section.allCases.count else { throw IndexError.corrupt(path, "missing sections") }
        var infos = [SegmentFormat.SectionInfo]()
        for _ in 0..<count {
            let info = SegmentFormat.SectionInfo(offset: try f.u64(), length: try f.u64(), crcTableOffset: try f.u64(), crcTableCRC: try f.u32())
            _ = try f.u32()
            // Bounds are checked without overflow: a footer can pass its CRC and still be hostile.
            let limit = UInt64(footerStart)
            guard info.offset >= UInt64(SegmentFormat.headerSize), info.offset <= limit, info.length <= limit - info.offset,
                  info.crcTableOffset <= limit else { throw IndexError.corrupt(path, "section out of bounds") }
            infos.append(info)
        }
        for (i, info) in infos.enumerated() where i != SegmentFormat.Section.store.rawValue {
            let start = Int(info.crcTableOffset)
            guard info.pages <= (footerStart - start) / 4 else { throw IndexError.corrupt(path, "CRC table out of bounds") }
            let end = start + info.pages * 4
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[start..<end])) == info.crcTableCRC else {
                throw IndexError.corrupt(path, "CRC table of section \(i) does not match", offset: UInt64(start))
            }
        }
        sections = infos
        var starts = [Int](), total = 0
        for info in infos { starts.append(total); total += info.pages }
        pageFlagStart = starts
        pageFlagCount = total
        pageFlags = .allocate(capacity: max(total, 1))
        pageFlags.initialize(repeating: 0, count: max(total, 1))
        blockCount = Int(infos[SegmentFormat.Section.blockIndex.rawValue].length) / SegmentFormat.blockEntrySize
        sessionCount = Int(infos[SegmentFormat.Section.sessionTable.rawValue].length) / SegmentFormat.sessionEntrySize
    }

    /// Bytes `range` of a section, after checking the CRC of every page they touch.
    func bytes(_ section: SegmentFormat.Section, _ range: Range<Int>) throws -> UnsafeRawBufferPointer {
        let info = sections[section.rawValue]
        guard range.lowerBound >= 0, UInt64(range.upperBound) <= info.length else {
            throw IndexError.corrupt(file.path, "read past the end of section \(section)")
        }
        if range.isEmpty { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let all = file.bytes
        let base = Int(info.offset)
        let firstPage = range.lowerBound / SegmentFormat.pageSize
        let lastPage = (range.upperBound - 1) / SegmentFormat.pageSize
        let flagBase = pageFlagStart[section.rawValue]
        for page in firstPage...lastPage where maildex_flag_get(pageFlags, Int64(flagBase + page)) == 0 {
            let start = base + page * SegmentFormat.pageSize
            let end = base + min(Int(info.length), (page + 1) * SegmentFormat.pageSize)
            let expected = all.loadUnaligned(fromByteOffset: Int(info.crcTableOffset) + page * 4, as: UInt32.self)
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[start..<end])) == UInt32(littleEndian: expected) else {
                throw IndexError.corrupt(file.path, "checksum mismatch in section \(section), page \(page)", offset: UInt64(start))
            }
            maildex_flag_set(pageFlags, Int64(flagBase + page), 1)
        }
        return UnsafeRawBufferPointer(rebasing: all[(base + range.lowerBound)..<(base + range.upperBound)])
    }

    func wholeSection(_ s: SegmentFormat.Section) throws -> UnsafeRawBufferPointer {
        try bytes(s, 0..<Int(sections[s.rawValue].length))
    }

    // MARK: Sessions

    public func entry(at i: Int) throws -> SessionEntry {
        var r = ByteReader(try bytes(.sessionTable, (i * SegmentFormat.sessionEntrySize)..<((i + 1) * SegmentFormat.sessionEntrySize)))
        return SessionEntry(number: try r.u64(), block: try r.u32(), offsetInBlock: try r.u32(),
                            date: CivilDate(daysSinceEpoch: try r.i32()), startSecond: try r.i32(), lineID: try r.u32(), flags: try r.u32())
    }

    func number(at i: Int) throws -> UInt64 {
        let b = try bytes(.sessionTable, (i * SegmentFormat.sessionEntrySize)..<(i * SegmentFormat.sessionEntrySize + 8))
        return UInt64(littleEndian: b.loadUnaligned(as: UInt64.self))
    }

    /// The lowest and highest session numbers in this segment (the table is sorted),
    /// read on first use (lock).
    private var numberRangeCache: ClosedRange<UInt64>?? = nil

    private var numberRange: ClosedRange<UInt64>? {
        if let r = cacheLock.with({ numberRangeCache }) { return r }
        let r: ClosedRange<UInt64>?
        if sessionCount > 0, let lo = try? number(at: 0), let hi = try? number(at: sessionCount - 1), lo <= hi { r = lo...hi } else { r = nil }
        cacheLock.with { numberRangeCache = .some(r) }
        return r
    }

    /// The table row of session `number`, if this segment has it.
    public func findEntry(_ number: UInt64) throws -> SessionEntry? {
        if let r = numberRange, !r.contains(number) { return nil }
        var lo = 0, hi = sessionCount
        while lo < hi {
            let mid = (lo + hi) / 2
            if try self.number(at: mid) < number { lo = mid + 1 } else { hi = mid }
        }
        guard lo < sessionCount else { return nil }
        let e = try entry(at: lo)
        return e.number == number ? e : nil
    }

    /// Where store block `i` lies in the file, as the block index says (its pages checked).
    struct BlockLocation {
        var index: Int
        var offset: Int
        var compressed: Int
        var plain: Int
        var crc: UInt32
    }

    func blockLocation(_ i: Int) throws -> BlockLocation {
        guard i >= 0, i < blockCount else { throw IndexError.corrupt(file.path, "block \(i) does not exist") }
        var r = ByteReader(try bytes(.blockIndex, (i * SegmentFormat.blockEntrySize)..<((i + 1) * SegmentFormat.blockEntrySize)))
        let rawOffset = try r.u64()
        guard rawOffset <= UInt64(file.size) else { throw IndexError.corrupt(file.path, "block \(i) out of bounds") }
        let offset = Int(rawOffset), compressed = Int(try r.u32()), plain = Int(try r.u32()), crc = try r.u32()
        let store = sections[SegmentFormat.Section.store.rawValue]
        guard offset >= Int(store.offset), offset + compressed <= Int(store.offset + store.length) else {
            throw IndexError.corrupt(file.path, "block \(i) out of bounds")
        }
        return BlockLocation(index: i, offset: offset, compressed: compressed, plain: plain, crc: crc)
    }

    /// Checks and decompresses a block found by `blockLocation`. Reads only the mapping:
    /// any thread may call it.
    func decompress(_ at: BlockLocation) throws -> [UInt8] {
        try decompress(UnsafeRawBufferPointer(rebasing: file.bytes[at.offset..<(at.offset + at.compressed)]), at)
    }

    /// Checks and decompresses the bytes `raw` of the block at `at` (read from the mapping or a copy of them).
    private func decompress(_ raw: UnsafeRawBufferPointer, _ at: BlockLocation) throws -> [UInt8] {
        guard CRC32C.checksum(raw) == at.crc else {
            throw IndexError.corrupt(file.path, "checksum mismatch in store block \(at.index)", offset: UInt64(at.offset))
        }
        do { return try Zstd.decompress(raw, expectedSize: at.plain) } catch {
            throw IndexError.corrupt(file.path, "store block \(at.index): \(error)", offset: UInt64(at.offset))
        }
    }

    /// The decompressed bytes of store block `i` (the last one is cached).
    func block(_ i: Int) throws -> [UInt8] {
        if let c = cacheLock.with({ blockCache }), c.index == i { return c.bytes }
        let bytes = try decompress(try blockLocation(i))
        cacheLock.with { blockCache = (i, bytes) }
        return bytes
    }

    /// The sessions of table rows `entries` (all of this segment), in the order given:
    /// each block they need is decompressed once, the blocks on `threads` threads at once.
    func sessions(_ entries: [SessionEntry], threads: Int) throws -> [Session] {
        // Group the rows by block; locate the blocks here (that checks index pages,
        // which is not thread-safe), then decompress and decode them in parallel.
        let order = entries.indices.sorted { (entries[$0].block, entries[$0].offsetInBlock) < (entries[$1].block, entries[$1].offsetInBlock) }
        var groups = [(location: BlockLocation, rows: ArraySlice<Int>)]()
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count, entries[order[end]].block == entries[order[start]].block { end += 1 }
            groups.append((try blockLocation(Int(entries[order[start]].block)), order[start..<end]))
            start = end
        }
        let decoded = Parallel.map(groups.count, threads: threads) { g -> Result<[(Int, Session)], Error> in
            Result {
                // One block: through the cache of the last block read (a repeated lookup).
                let block = groups.count == 1 ? try self.block(groups[g].location.index) : try decompress(groups[g].location)
                return try block.withUnsafeBytes { p in
                    try groups[g].rows.map { k in
                        do { return (k, try SessionCodec.decode(block: p, offset: Int(entries[k].offsetInBlock))) } catch {
                            throw IndexError.corrupt(file.path, "session \(entries[k].number) in block \(entries[k].block) is malformed")
                        }
                    }
                }
            }
        }
        var out = [Session?](repeating: nil, count: entries.count)
        for d in decoded { for (k, s) in try d.get() { out[k] = s } }
        return out.map { $0! }
    }

    /// Every session of store block `i`, in the order they were written. Byte offsets
    /// are 0: they live in the sources' line tables, possibly in another segment, so
    /// read sessions through `IndexReader`, which fills them in.
    func sessions(inBlock i: Int) throws -> [Session] {
        let count = try sessionCount(ofBlock: i)
        let b = try block(i)
        return try b.withUnsafeBytes { p in
            do { return try SessionCodec.decodeAll(block: p, count: count) } catch {
                throw IndexError.corrupt(file.path, "a session in block \(i) is malformed")
            }
        }
    }

    /// Store block `at`, checked and decompressed: its sessions (byte offsets 0, as in
    /// `sessions(inBlock:)`), where each one's record starts in it, and with
    /// `keepCompressed` its stored bytes (copied once, then checked and decompressed from
    /// the copy, so the bytes kept are the bytes checked). Reads only the mapping, after
    /// `blockLocation` checked the index page: any thread may call it with a location
    /// from the calling thread.
    func rawBlock(_ at: BlockLocation, sessions count: Int, keepCompressed: Bool)
        throws -> (compressed: [UInt8]?, sessions: [Session], offsets: [UInt32]) {
        var compressed: [UInt8]? = nil
        let plain: [UInt8]
        if keepCompressed {
            let copy = Array(UnsafeRawBufferPointer(rebasing: file.bytes[at.offset..<(at.offset + at.compressed)]))
            plain = try copy.withUnsafeBytes { try decompress($0, at) }
            compressed = copy
        } else {
            plain = try decompress(at)
        }
        var offsets = [UInt32]()
        let sessions = try plain.withUnsafeBytes { p in
            do { return try SessionCodec.decodeAll(block: p, count: count, offsets: &offsets) } catch {
                throw IndexError.corrupt(file.path, "a session in block \(at.index) is malformed", offset: UInt64(at.offset))
            }
        }
        return (compressed, sessions, offsets)
    }

    /// How many sessions store block `i` holds (its index entry).
    func sessionCount(ofBlock i: Int) throws -> Int {
        var r = ByteReader(try bytes(.blockIndex, (i * SegmentFormat.blockEntrySize)..<((i + 1) * SegmentFormat.blockEntrySize)), at: 20)
        return Int(try r.u32())
    }

    /// The session of table row `e`; byte offsets are 0, as in `sessions(inBlock:)`.
    func session(_ e: SessionEntry) throws -> Session { try sessions([e], threads: 1)[0] }

    // MARK: Terms

    /// The term dictionary's block index: terms per block and how many blocks (read
    /// and checked once; a damaged index gives its own error, page CRCs included) (lock).
    private var termIndexCache: (perBlock: Int, blocks: Int, terms: Int)? = nil

    private func termIndexOrThrow() throws -> (perBlock: Int, blocks: Int, terms: Int) {
        if let t = cacheLock.with({ termIndexCache }) { return t }
        let length = Int(sections[SegmentFormat.Section.termEntries.rawValue].length)
        guard length >= 16, (length - 16) % 16 == 0 else { throw IndexError.corrupt(file.path, "term block index is malformed") }
        let h = try bytes(.termEntries, 0..<16)
        let perBlock = Int(UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let terms = UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let blocks = (length - 16) / 16
        // Sizes are checked before they are multiplied: a hostile index must not trap here.
        guard perBlock > 0, perBlock <= 1 << 16,
              blocks == 0 ? terms == 0 : terms <= UInt64(blocks) * UInt64(perBlock) && terms > UInt64(blocks - 1) * UInt64(perBlock)
        else { throw IndexError.corrupt(file.path, "term block index is malformed") }
        let t = (perBlock, blocks, Int(terms))
        cacheLock.with { termIndexCache = t }
        return t
    }

    /// How many distinct terms the segment holds (0 if its dictionary is damaged).
    public var termCount: Int { (try? termIndexOrThrow())?.terms ?? 0 }

    /// A position in the term dictionary: the current term, its sessions, and where
    /// the next term of its block is.
    struct TermCursor {
        var block: Int
        var remaining: Int
        var reader: ByteReader
        var term: [UInt8] = []
        /// The term belongs to one session, `single`; else to `count` in its postings list.
        var isSingle = false
        var count = 0
        var single: UInt64 = 0
        var postingsOffset: UInt64 = 0
        var postingsLength = 0
        var nextPostings: UInt64
    }

    /// The bytes of term block `b` in the termBytes section.
    private func termBlockRange(_ b: Int) throws -> Range<Int> {
        let blocks = try termIndexOrThrow().blocks
        let e = try bytes(.termEntries, (16 + b * 16)..<(24 + b * 16))
        let start = UInt64(littleEndian: e.loadUnaligned(as: UInt64.self))
        var end = sections[SegmentFormat.Section.termBytes.rawValue].length
        if b + 1 < blocks {
            let n = try bytes(.termEntries, (32 + b * 16)..<(40 + b * 16))
            end = UInt64(littleEndian: n.loadUnaligned(as: UInt64.self))
        }
        guard start <= end, end <= sections[SegmentFormat.Section.termBytes.rawValue].length else {
            throw IndexError.corrupt(file.path, "term block \(b) is out of bounds")
        }
        return Int(start)..<Int(end)
    }

    /// Whether the first term of block `b` sorts at or before `key` (read in place, for
    /// the binary search over blocks).
    private func firstTerm(ofBlock b: Int, isAtOrBefore key: [UInt8]) throws -> Bool {
        let block = try bytes(.termBytes, try termBlockRange(b))
        var r = ByteReader(block)
        do {
            guard try r.varint() == 0 else { throw ByteReader.OutOfBounds() }
            let n = try r.varint()
            guard n <= UInt64(block.count - r.position) else { throw ByteReader.OutOfBounds() }
            let length = Int(n), common = min(length, key.count)
            let c = common == 0 ? 0 : key.withUnsafeBytes { memcmp(block.baseAddress! + r.position, $0.baseAddress!, common) }
            return c < 0 || (c == 0 && length <= key.count)
        } catch is ByteReader.OutOfBounds {
            throw IndexError.corrupt(file.path, "term block \(b) is malformed")
        }
    }

    /// A cursor on the first term of block `b`.
    private func cursor(block b: Int) throws -> TermCursor {
        let (perBlock, _, total) = try termIndexOrThrow()
        let e = try bytes(.termEntries, (16 + b * 16)..<(32 + b * 16))
        let postings = UInt64(littleEndian: e.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard postings <= sections[SegmentFormat.Section.postings.rawValue].length else {
            throw IndexError.corrupt(file.path, "term block \(b) points past the postings")
        }
        var c = TermCursor(block: b, remaining: min(perBlock, total - b * perBlock),
                           reader: ByteReader(try bytes(.termBytes, try termBlockRange(b))), nextPostings: postings)
        guard try step(&c) else { throw IndexError.corrupt(file.path, "term block \(b) is empty") }
        return c
    }

    /// Reads the next term of the cursor's block; false at the block's end.
    private func step(_ c: inout TermCursor) throws -> Bool {
        guard c.remaining > 0 else { return false }
        do {
            let shared = try c.reader.varint(), suffix = try c.reader.varint()
            guard shared <= UInt64(c.term.count), suffix <= UInt64(c.reader.buffer.count) else { throw ByteReader.OutOfBounds() }
            c.term.removeLast(c.term.count - Int(shared))
            c.term.append(contentsOf: try c.reader.bytes(Int(suffix)))
            let code = try c.reader.varint()
            if code & 1 == 1 {
                c.isSingle = true; c.count = 1; c.single = code >> 1; c.postingsLength = 0
            } else {
                // A list holds at least two sessions, each at least one byte: anything
                // else is damage, and must not reach counts or allocations.
                let count = code >> 1, length = try c.reader.varint()
                let room = sections[SegmentFormat.Section.postings.rawValue].length - c.nextPostings
                guard count >= 2, count <= length, length <= room, length <= UInt64(Int32.max) else { throw ByteReader.OutOfBounds() }
                c.isSingle = false
                c.count = Int(count)
                c.postingsOffset = c.nextPostings
                c.postingsLength = Int(length)
                c.nextPostings += length
            }
        } catch is ByteReader.OutOfBounds {
            throw IndexError.corrupt(file.path, "term block \(c.block) is malformed")
        }
        c.remaining -= 1
        return true
    }

    /// Moves to the next term, across blocks; false after the last term.
    private func advance(_ c: inout TermCursor) throws -> Bool {
        if try step(&c) { return true }
        guard c.block + 1 < (try termIndexOrThrow()).blocks else { return false }
        c = try cursor(block: c.block + 1)
        return true
    }

    /// A cursor on the first term >= `key`, or nil when every term sorts before it.
    func seek(_ key: [UInt8]) throws -> TermCursor? {
        let blocks = try termIndexOrThrow().blocks
        guard blocks > 0 else { return nil }
        // The last block whose first term is <= key (block 0 if none).
        var lo = 0, hi = blocks
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if try firstTerm(ofBlock: mid, isAtOrBefore: key) {
                lo = mid
            } else {
                hi = mid
            }
        }
        var c = try cursor(block: lo)
        while c.term.lexicographicallyPrecedes(key) {
            guard try advance(&c) else { return nil }
        }
        return c
    }

    func postings(_ c: TermCursor, into out: inout [UInt64]) throws {
        if c.isSingle { out.append(c.single); return }
        guard c.postingsOffset <= sections[SegmentFormat.Section.postings.rawValue].length else {
            throw IndexError.corrupt(file.path, "postings out of bounds")
        }
        let start = Int(c.postingsOffset)
        let p = try bytes(.postings, start..<(start + c.postingsLength))
        do { try PostingList.decode(p, count: c.count, into: &out) } catch {
            throw IndexError.corrupt(file.path, "postings are malformed")
        }
    }

    /// Session numbers of `key`, sorted.
    public func lookup(_ key: [UInt8]) throws -> [UInt64] {
        // Keys are stored cut to `Terms.maxKeyBytes` after the kind byte; look them up so.
        let key = key.count > Terms.maxKeyBytes + 1 ? Array(key.prefix(Terms.maxKeyBytes + 1)) : key
        guard let c = try seek(key), c.term == key else { return [] }
        var out = [UInt64]()
        try postings(c, into: &out)
        return out
    }

    /// Posting lists of every term in `[lower, upper]` (inclusive, as bytes), unmerged.
    public func lookupRange(_ lower: [UInt8], _ upper: [UInt8], visit: ([UInt8], [UInt64]) throws -> Void) throws {
        guard var c = try seek(lower) else { return }
        repeat {
            if upper.lexicographicallyPrecedes(c.term) { break }
            var list = [UInt64]()
            try postings(c, into: &list)
            try visit(c.term, list)
        } while try advance(&c)
    }

    /// Terms (with their session counts) that start with `prefix`, for stats.
    public func terms(withPrefix prefix: [UInt8], visit: ([UInt8], Int) throws -> Void) throws {
        guard var c = try seek(prefix) else { return }
        repeat {
            guard c.term.starts(with: prefix) else { break }
            try visit(c.term, c.count)
        } while try advance(&c)
    }

    // MARK: Line tables

    /// The line tables' directory: source id → the table's range in the section (read
    /// and checked once) (lock).
    private var lineTableDirectoryCache: [UInt32: Range<Int>]? = nil

    public func lineTableSources() throws -> [UInt32: Range<Int>] {
        if let d = cacheLock.with({ lineTableDirectoryCache }) { return d }
        let d = try readLineTableDirectory()
        cacheLock.with { lineTableDirectoryCache = d }
        return d
    }

    private func readLineTableDirectory() throws -> [UInt32: Range<Int>] {
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

    /// Each source's line-table header, decoded on first use (lock).
    private var lineTableEntries: [UInt32: LineTable.Entry] = [:]
    private struct LineBlockKey: Hashable { var source: UInt32; var block: Int }
    /// Decoded line-table blocks, kept for the next lookup (sessions near in time share
    /// blocks); at most 256 (8 MB) (lock).
    private var lineBlockCache: [LineBlockKey: [UInt64]] = [:]

    func cachedOffsets(_ b: LineBlock) -> [UInt64]? {
        cacheLock.with { lineBlockCache[LineBlockKey(source: b.source, block: b.block)] }
    }

    func cache(_ b: LineBlock, offsets: [UInt64]) {
        cacheLock.with {
            if lineBlockCache.count >= 256 { lineBlockCache.removeAll(keepingCapacity: true) }
            lineBlockCache[LineBlockKey(source: b.source, block: b.block)] = offsets
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
            guard line >= 1, line <= e.lines else {
                throw IndexError.corrupt(file.path, "line \(line) of source \(source) is past the end of its line table")
            }
            let index = Int(line - 1), b = index / e.perBlock
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

    // MARK: Metadata

    public func sources() throws -> [SourceRecord] {
        var r = ByteReader(try wholeSection(.sources))
        let n = try r.u32()
        var out = [SourceRecord]()
        do { for _ in 0..<n { out.append(try SourceRecord.decode(&r)) } } catch {
            throw IndexError.corrupt(file.path, "source table is malformed")
        }
        return out
    }

    public func replaced() throws -> [UInt64] {
        let b = try wholeSection(.replaces)
        return (0..<(b.count / 8)).map { UInt64(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
    }

    public func stats() throws -> SegmentStats { SegmentStats(json: String(decoding: try wholeSection(.stats), as: UTF8.self)) }

    /// Reads and checks every byte: each section page and each store block.
    public func verifyAll() throws {
        for s in SegmentFormat.Section.allCases where s != .store { _ = try wholeSection(s) }
        for i in 0..<blockCount {
            if i % 256 == 255 { releasePages() }
            cacheLock.with { blockCache = nil }; _ = try block(i)
        }
        for i in 0..<sessionCount {
            if i % 65536 == 65535 { releasePages() }
            _ = try session(try entry(at: i))
        }
        // Every term and posting list, through the same checks lookups make.
        if var c = try seek([]) {
            var list = [UInt64]()
            repeat { list.removeAll(keepingCapacity: true); try postings(c, into: &list) } while try advance(&c)
        }
        for (source, range) in try readLineTableDirectory() {
            let t = try bytes(.lineTables, range)
            guard let (id, entry) = try? LineTable.entry(t) else { throw IndexError.corrupt(file.path, "line table of source \(source) is malformed") }
            guard id == source else { throw IndexError.corrupt(file.path, "line table of source \(source) names source \(id)") }
            // Every block decoded whole, each line's length read.
            for b in entry.blocks.indices {
                guard let (block, _) = try lineBlock(source: source, line: UInt64(b * entry.perBlock + 1)) else { continue }
                _ = try offsets(block)
            }
        }
    }

    public var fileSize: Int { file.size }

    /// The segment file as it was when opened (device, inode, size, time).
    public var fileVersion: FileVersion? { file.version }

    /// Gives the pages of the mapping read so far back to the kernel (they are read
    /// again if touched): a pass over a whole large segment (`compact`) would otherwise
    /// keep it all resident. Pages read again are checked again: what comes back from
    /// the disk is not trusted for having been right the first time.
    func releasePages() {
        cacheLock.with { blockCache = nil }
        file.release(0..<file.size)
        for i in 0..<pageFlagCount { maildex_flag_set(pageFlags, Int64(i), 0) }
    }

    deinit { pageFlags.deallocate() }

    /// Bytes per section, for `maildex verify`.
    public var sectionSizes: [(name: String, bytes: UInt64)] {
        SegmentFormat.Section.allCases.map { ("\($0)", sections[$0.rawValue].length) }
    }
}
