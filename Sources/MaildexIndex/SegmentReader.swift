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
    let cacheLock = NSLockLite()
    /// The last store block decompressed (lock).
    var blockCache: (index: Int, bytes: [UInt8])? = nil

    /// The lowest and highest session numbers in this segment (the table is sorted):
    /// set once, at open, before any other thread can see the reader.
    private(set) var numberRange: ClosedRange<UInt64>? = nil
    /// The term dictionary's block index: terms per block and how many blocks (read
    /// and checked once; a damaged index gives its own error, page CRCs included) (lock).
    var termIndexCache: (perBlock: Int, blocks: Int, terms: Int)? = nil
    /// The line tables' directory: source id → the table's range in the section (read
    /// and checked once) (lock).
    var lineTableDirectoryCache: [UInt32: Range<Int>]? = nil
    /// Each source's line-table header, decoded on first use (lock).
    var lineTableEntries: [UInt32: LineTable.Entry] = [:]
    struct LineBlockKey: Hashable { var source: UInt32; var block: Int }
    /// Decoded line-table blocks, kept for the next lookup (sessions near in time share
    /// blocks); at most 256 (8 MB) (lock).
    var lineBlockCache: [LineBlockKey: [UInt64]] = [:]

    public let blockCount: Int
    /// Rows of the session table: its sessions, then its message trails (numbered from
    /// `SessionStitcher.trailBase`, so they sort last).
    public let entryCount: Int
    /// Rows that are sessions.
    public private(set) var sessionCount: Int = 0
    public var trailCount: Int { entryCount - sessionCount }
    /// This reader's key in the `BlockCache`: never used by another reader.
    let serial = BlockCache.shared.nextSerial()

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
            throw MaildexError.unsupportedFormat(path, "segment", found: String(version), reads: Int(SegmentFormat.version))
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
        entryCount = Int(infos[SegmentFormat.Section.sessionTable.rawValue].length) / SegmentFormat.sessionEntrySize
        numberRange = readNumberRange()
        sessionCount = (try? firstRow(atLeast: SessionStitcher.trailBase)) ?? entryCount
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

    // MARK: Metadata

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
        for i in 0..<entryCount {
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
                guard let (block, _) = try lineBlock(source: source, line: entry.firstLine + UInt64(b * entry.perBlock)) else { continue }
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
