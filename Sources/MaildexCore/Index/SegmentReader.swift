#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads one segment file through a memory map. Opening checks the header, the
/// footer and the CRC tables; every page of a section is checked against its CRC
/// the first time it is read, and every store block when it is decompressed, so a
/// flipped byte anywhere is reported, never trusted.
public final class SegmentReader {
    public let name: String
    let file: MappedFile
    let sections: [SegmentFormat.SectionInfo]
    private var verified: [[Bool]]
    private var blockCache: (index: Int, bytes: [UInt8])? = nil

    public let blockCount: Int
    public let sessionCount: Int
    public let termCount: Int

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
            throw IndexError("\(path): segment format version \(version); this maildex reads version \(SegmentFormat.version); rebuild the index (remove it and run `maildex index` again)")
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
        verified = infos.map { [Bool](repeating: false, count: $0.pages) }
        blockCount = Int(infos[SegmentFormat.Section.blockIndex.rawValue].length) / SegmentFormat.blockEntrySize
        sessionCount = Int(infos[SegmentFormat.Section.sessionTable.rawValue].length) / SegmentFormat.sessionEntrySize
        termCount = Int(infos[SegmentFormat.Section.termEntries.rawValue].length) / SegmentFormat.termEntrySize
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
        for page in firstPage...lastPage where !verified[section.rawValue][page] {
            let start = base + page * SegmentFormat.pageSize
            let end = base + min(Int(info.length), (page + 1) * SegmentFormat.pageSize)
            let expected = all.loadUnaligned(fromByteOffset: Int(info.crcTableOffset) + page * 4, as: UInt32.self)
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[start..<end])) == UInt32(littleEndian: expected) else {
                throw IndexError.corrupt(file.path, "checksum mismatch in section \(section), page \(page)", offset: UInt64(start))
            }
            verified[section.rawValue][page] = true
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

    /// The lowest and highest session numbers in this segment (the table is sorted).
    private lazy var numberRange: ClosedRange<UInt64>? = {
        guard sessionCount > 0, let lo = try? number(at: 0), let hi = try? number(at: sessionCount - 1), lo <= hi else { return nil }
        return lo...hi
    }()

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

    /// The decompressed bytes of store block `i` (the last one is cached).
    func block(_ i: Int) throws -> [UInt8] {
        if let c = blockCache, c.index == i { return c.bytes }
        guard i >= 0, i < blockCount else { throw IndexError.corrupt(file.path, "block \(i) does not exist") }
        var r = ByteReader(try bytes(.blockIndex, (i * SegmentFormat.blockEntrySize)..<((i + 1) * SegmentFormat.blockEntrySize)))
        let rawOffset = try r.u64()
        guard rawOffset <= UInt64(file.size) else { throw IndexError.corrupt(file.path, "block \(i) out of bounds") }
        let offset = Int(rawOffset), compressed = Int(try r.u32()), plain = Int(try r.u32()), crc = try r.u32()
        let store = sections[SegmentFormat.Section.store.rawValue]
        guard offset >= Int(store.offset), offset + compressed <= Int(store.offset + store.length) else {
            throw IndexError.corrupt(file.path, "block \(i) out of bounds")
        }
        let raw = UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + compressed)])
        guard CRC32C.checksum(raw) == crc else { throw IndexError.corrupt(file.path, "checksum mismatch in store block \(i)", offset: UInt64(offset)) }
        let bytes: [UInt8]
        do { bytes = try Zstd.decompress(raw, expectedSize: plain) } catch {
            throw IndexError.corrupt(file.path, "store block \(i): \(error)", offset: UInt64(offset))
        }
        blockCache = (i, bytes)
        return bytes
    }

    /// Every session of store block `i`, in the order they were written.
    public func sessions(inBlock i: Int) throws -> [Session] {
        var r = ByteReader(try bytes(.blockIndex, (i * SegmentFormat.blockEntrySize)..<((i + 1) * SegmentFormat.blockEntrySize)), at: 20)
        let count = Int(try r.u32())
        let b = try block(i)
        return try b.withUnsafeBytes { p in
            do { return try SessionCodec.decodeAll(block: p, count: count) } catch {
                throw IndexError.corrupt(file.path, "a session in block \(i) is malformed")
            }
        }
    }

    public func session(_ e: SessionEntry) throws -> Session {
        let b = try block(Int(e.block))
        return try b.withUnsafeBytes { p in
            do { return try SessionCodec.decode(block: p, offset: Int(e.offsetInBlock)) } catch {
                throw IndexError.corrupt(file.path, "session \(e.number) in block \(e.block) is malformed")
            }
        }
    }

    // MARK: Terms

    struct TermEntry {
        var termOffset: UInt64
        var termLength: UInt32
        var postingsOffset: UInt64
        var postingsLength: UInt32
        var count: UInt32
    }

    func termEntry(_ i: Int) throws -> TermEntry {
        var r = ByteReader(try bytes(.termEntries, (i * SegmentFormat.termEntrySize)..<((i + 1) * SegmentFormat.termEntrySize)))
        return TermEntry(termOffset: try r.u64(), termLength: try r.u32(), postingsOffset: try r.u64(),
                         postingsLength: try r.u32(), count: try r.u32())
    }

    func term(_ e: TermEntry) throws -> UnsafeRawBufferPointer {
        guard e.termOffset <= sections[SegmentFormat.Section.termBytes.rawValue].length else {
            throw IndexError.corrupt(file.path, "term entry out of bounds")
        }
        let start = Int(e.termOffset)
        return try bytes(.termBytes, start..<(start + Int(e.termLength)))
    }

    /// -1, 0, 1 as term `i` sorts before, equal to, or after `key`.
    func compareTerm(_ i: Int, _ key: [UInt8]) throws -> Int {
        let t = try term(try termEntry(i))
        let n = min(t.count, key.count)
        let c = key.withUnsafeBytes { k in n == 0 ? 0 : memcmp(t.baseAddress!, k.baseAddress!, n) }
        if c != 0 { return c < 0 ? -1 : 1 }
        return t.count == key.count ? 0 : (t.count < key.count ? -1 : 1)
    }

    /// The first term index whose term is >= `key`.
    func lowerBound(_ key: [UInt8]) throws -> Int {
        var lo = 0, hi = termCount
        while lo < hi {
            let mid = (lo + hi) / 2
            if try compareTerm(mid, key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func postings(_ e: TermEntry, into out: inout [UInt64]) throws {
        guard e.postingsOffset <= sections[SegmentFormat.Section.postings.rawValue].length else {
            throw IndexError.corrupt(file.path, "postings out of bounds")
        }
        let start = Int(e.postingsOffset)
        let p = try bytes(.postings, start..<(start + Int(e.postingsLength)))
        do { try PostingList.decode(p, count: Int(e.count), into: &out) } catch {
            throw IndexError.corrupt(file.path, "postings are malformed")
        }
    }

    /// Session numbers of `key`, sorted.
    public func lookup(_ key: [UInt8]) throws -> [UInt64] {
        let i = try lowerBound(key)
        guard i < termCount, try compareTerm(i, key) == 0 else { return [] }
        var out = [UInt64]()
        try postings(try termEntry(i), into: &out)
        return out
    }

    /// Posting lists of every term in `[lower, upper]` (inclusive, as bytes), unmerged.
    public func lookupRange(_ lower: [UInt8], _ upper: [UInt8], visit: ([UInt8], [UInt64]) throws -> Void) throws {
        var i = try lowerBound(lower)
        while i < termCount {
            let e = try termEntry(i)
            let t = Array(try term(e))
            if !(t.lexicographicallyPrecedes(upper) || t == upper) { break }
            var list = [UInt64]()
            try postings(e, into: &list)
            try visit(t, list)
            i += 1
        }
    }

    /// Terms (with their session counts) that start with `prefix`, for stats.
    public func terms(withPrefix prefix: [UInt8], visit: ([UInt8], Int) throws -> Void) throws {
        var i = try lowerBound(prefix)
        while i < termCount {
            let e = try termEntry(i)
            let t = Array(try term(e))
            guard t.starts(with: prefix) else { break }
            try visit(t, Int(e.count))
            i += 1
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
        for i in 0..<blockCount { blockCache = nil; _ = try block(i) }
        for i in 0..<sessionCount { _ = try session(try entry(at: i)) }
    }

    public var fileSize: Int { file.size }

    /// Bytes per section, for `maildex verify`.
    public var sectionSizes: [(name: String, bytes: UInt64)] {
        SegmentFormat.Section.allCases.map { ("\($0)", sections[$0.rawValue].length) }
    }
}
