#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPlatform
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// Constants and small records of the segment file format (FORMAT.md).
public enum SegmentFormat {
    public static let headerMagic: [UInt8] = Array("MDXSEG01".utf8)
    public static let footerMagic: [UInt8] = Array("MDXFOOT1".utf8)
    public static let version: UInt32 = 3
    public static let headerSize = 16
    /// Every section but the store is covered by one CRC-32C per page of this size.
    public static let pageSize = 4096
    public static let blockEntrySize = 24
    public static let sessionEntrySize = 32

    public enum Section: Int, CaseIterable, Sendable {
        /// `termEntries` is the term dictionary's block index, `termBytes` its blocks
        /// (front-coded terms with their posting info; see `TermDictionary`).
        case store = 0, blockIndex, sessionTable, sources, termEntries, termBytes, postings, replaces, stats, lineTables
    }

    public struct SectionInfo: Sendable {
        public var offset: UInt64 = 0
        public var length: UInt64 = 0
        /// Where the section's page CRCs are (u32 each); 0 for the store, whose
        /// blocks carry their own CRC in the block index.
        public var crcTableOffset: UInt64 = 0
        public var crcTableCRC: UInt32 = 0
        public var pages: Int { Int((length + UInt64(SegmentFormat.pageSize) - 1) / UInt64(SegmentFormat.pageSize)) }
    }
}

/// One session's row in a segment's session table (32 bytes on disk).
public struct SessionEntry: Sendable, Equatable {
    public var number: UInt64
    public var block: UInt32
    public var offsetInBlock: UInt32
    public var date: CivilDate
    /// Seconds since midnight of the first line's time (local, as written).
    public var startSecond: Int32
    public var lineID: UInt32
    /// Bit 0: complete. Bits 8-15: channel kind. Bits 16-23: messages (at most 255).
    /// Bits 24-31: rejected recipients (at most 255).
    public var flags: UInt32

    public var complete: Bool { flags & 1 != 0 }
    public var messageCount: Int { Int((flags >> 16) & 0xFF) }
    public var rejectedCount: Int { Int(flags >> 24) }
}

/// A source file as the index records it.
public struct SourceRecord: Sendable, Equatable {
    public var id: UInt32
    public var name: String
    public var path: String
    public var date: CivilDate
    public var size: UInt64
    public var mtime: Int64
    public var sha256: [UInt8]
    /// False for a source a maildex before 2026-11-30 indexed from a `.zst` file: it
    /// stored no digest (32 zero bytes).
    public var hasDigest: Bool { sha256.contains { $0 != 0 } }
    /// Uncompressed bytes of log text.
    public var plainBytes: UInt64
    /// zstd frames (0 for a plain file).
    public var frames: UInt32
    /// Unix time the file was indexed.
    public var indexedAt: Int64
    /// Reading the file stopped at an error (a corrupt zstd frame, a failed read): only
    /// its first `plainBytes` of log text are indexed. Stored as bit 31 of the frames field.
    public var partial: Bool

    public init(id: UInt32, name: String, path: String, date: CivilDate, size: UInt64, mtime: Int64, sha256: [UInt8],
                plainBytes: UInt64, frames: UInt32, indexedAt: Int64, partial: Bool = false) {
        self.id = id; self.name = name; self.path = path; self.date = date; self.size = size; self.mtime = mtime
        self.sha256 = sha256; self.plainBytes = plainBytes; self.frames = frames & Self.framesMask; self.indexedAt = indexedAt
        self.partial = partial
    }

    static let framesMask: UInt32 = 0x7FFF_FFFF

    func encode(into w: inout ByteWriter) {
        w.u32(id); w.i32(date.daysSinceEpoch); w.u64(size); w.i64(mtime); w.raw(sha256.count == 32 ? sha256 : [UInt8](repeating: 0, count: 32))
        w.u64(plainBytes); w.u32(frames & Self.framesMask | (partial ? ~Self.framesMask : 0)); w.i64(indexedAt)
        w.blob(Array(name.utf8)); w.blob(Array(path.utf8))
    }

    static func decode(_ r: inout ByteReader) throws -> SourceRecord {
        let id = try r.u32(), date = CivilDate(daysSinceEpoch: try r.i32()), size = try r.u64(), mtime = try r.i64()
        let sha = try r.bytes(32), plain = try r.u64(), frames = try r.u32(), at = try r.i64()
        let name = String(decoding: try r.blob(), as: UTF8.self), path = String(decoding: try r.blob(), as: UTF8.self)
        return SourceRecord(id: id, name: name, path: path, date: date, size: size, mtime: mtime, sha256: sha,
                            plainBytes: plain, frames: frames & framesMask, indexedAt: at, partial: frames & ~framesMask != 0)
    }
}

/// Problems with an index on disk.
/// Errors about the index (corrupt, missing, busy, of another format): the engine's one
/// error type, under the name the index code has always used.
public typealias IndexError = MaildexError

extension MaildexError {
    /// An index file that fails a check: the file, what is wrong, the byte offset.
    package static func corrupt(_ file: String, _ what: String, offset: UInt64? = nil) -> MaildexError {
        MaildexError(.corrupt, "\(file): index file is corrupt: \(what)" + (offset.map { " (at byte \($0))" } ?? "")
                     + "; run `maildex verify` for a full check, or rebuild the index", path: file, offset: offset)
    }

    /// An index file of a format this maildex does not read.
    package static func unsupportedFormat(_ file: String, _ what: String, version: Int) -> MaildexError {
        MaildexError(.unsupportedFormat, "\(file): \(what) format \(version); rebuild the index with maildex index (this maildex reads format \(SegmentFormat.version); remove the directory first)",
                     path: file, formatVersion: version)
    }
}

/// An output file written through a buffer, then fsynced and renamed into place.
final class AtomicFile {
    let finalPath: String
    let temporaryPath: String
    private var fd: Int32
    private var buffer = [UInt8]()
    private(set) var position: UInt64 = 0
    /// Bytes handed to the kernel, and how far its write-back has been started.
    private var written: UInt64 = 0
    private var writebackStarted: UInt64 = 0
    /// Write-back is started every this many bytes, so that `commit`'s fsync waits
    /// for the last few megabytes only, not for the whole file (RocksDB's
    /// `bytes_per_sync`). A segment of a 500 MB day is 70 MB; its fsync took 0.1 s.
    static let writebackStep: UInt64 = 8 << 20

    init(path: String) throws {
        finalPath = path
        temporaryPath = path + ".tmp"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw MaildexError.io(temporaryPath, errno: errno, "cannot write: \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(1 << 20)
    }

    deinit { if fd >= 0 { close(fd); unlink(temporaryPath) } }

    func write(_ bytes: some Collection<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        position += UInt64(bytes.count)
        if buffer.count >= 1 << 20 { try drain() }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        position += UInt64(bytes.count)
        if buffer.count >= 1 << 20 { try drain() }
    }

    private func drain() throws {
        var at = 0
        try buffer.withUnsafeBytes { b in
            while at < b.count {
                let n = Glibc.write(fd, b.baseAddress! + at, b.count - at)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MaildexError.io(temporaryPath, errno: errno, "cannot write: \(String(cString: strerror(errno)))")
                }
                at += n
            }
        }
        written += UInt64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
        if written - writebackStarted >= Self.writebackStep {
            // Only starts the write-back (no wait); an error here shows again at fsync.
            _ = maildex_start_writeback(fd, Int64(writebackStarted), Int64(written - writebackStarted))
            writebackStarted = written
        }
    }

    /// Flushes, fsyncs, renames into place and fsyncs the directory.
    func commit() throws {
        try drain()
        guard fsync(fd) == 0 else { throw MaildexError.io(temporaryPath, errno: errno, "fsync: \(String(cString: strerror(errno)))") }
        // A file system may report a failed write only at close (NFS).
        let closed = close(fd)
        fd = -1
        guard closed == 0 else { throw MaildexError.io(temporaryPath, errno: errno, "close: \(String(cString: strerror(errno)))") }
        guard rename(temporaryPath, finalPath) == 0 else {
            throw MaildexError.io(temporaryPath, errno: errno, "rename: \(String(cString: strerror(errno)))")
        }
        try syncDirectory(of: finalPath)
    }
}

/// Makes a rename in `path`'s directory durable. A file system that cannot sync a
/// directory (EINVAL: some FUSE and network ones) is let be, as PostgreSQL does;
/// any other failure is an error, since the renamed file might not survive a crash.
func syncDirectory(of path: String) throws {
    let dir = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    let name = dir.isEmpty ? "." : dir
    let d = open(name, O_RDONLY)
    guard d >= 0 else { throw MaildexError.io(name, errno: errno, "cannot open the directory to sync it: \(String(cString: strerror(errno)))") }
    defer { close(d) }
    if fsync(d) != 0 && errno != EINVAL {
        throw MaildexError.io(name, errno: errno, "fsync of the directory: \(String(cString: strerror(errno)))")
    }
}

/// Writes a section's bytes and collects one CRC per page as it goes.
struct PagedSectionWriter {
    var info = SegmentFormat.SectionInfo()
    var crcs: [UInt32] = []
    var pageCRC: UInt32 = 0
    var pageFill = 0

    init(offset: UInt64) { info.offset = offset }

    mutating func write(_ bytes: [UInt8], to file: AtomicFile) throws {
        try bytes.withUnsafeBytes { try write($0, to: file) }
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer, to file: AtomicFile) throws {
        try file.write(bytes)
        var at = 0
        while at < bytes.count {
            let n = min(SegmentFormat.pageSize - pageFill, bytes.count - at)
            pageCRC = CRC32C.update(pageCRC, UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]))
            pageFill += n
            at += n
            if pageFill == SegmentFormat.pageSize { crcs.append(pageCRC); pageCRC = 0; pageFill = 0 }
        }
        info.length += UInt64(bytes.count)
    }

    /// Ends the section and writes its CRC table after it.
    mutating func finish(to file: AtomicFile) throws -> SegmentFormat.SectionInfo {
        if pageFill > 0 { crcs.append(pageCRC); pageCRC = 0; pageFill = 0 }
        var w = ByteWriter(capacity: crcs.count * 4)
        for c in crcs { w.u32(c) }
        info.crcTableOffset = file.position
        info.crcTableCRC = CRC32C.checksum(w.bytes)
        try file.write(w.bytes)
        return info
    }
}

/// The term dictionary (FORMAT.md, "Term dictionary"): terms in byte order, in
/// blocks of `termsPerBlock`. In a block, each term is written as the length it
/// shares with the term before it (0 for a block's first), the rest of its bytes,
/// then a varint `code`: `number << 1 | 1` for a term of one session (no postings
/// list), else `count << 1` followed by the length of its list in the postings
/// section; lists follow one another from the block's postings offset.
/// Sorted keys share long prefixes (line ids, message ids, peers of one network),
/// and most terms belong to a single session, so a term takes a few bytes instead
/// of a 32-byte entry, its bytes and a list.
public enum TermDictionary {
    public static let termsPerBlock = 32
    /// Marks, in the writer's per-term info, a term of a single session.
    static let single: UInt64 = 1 << 63
}
