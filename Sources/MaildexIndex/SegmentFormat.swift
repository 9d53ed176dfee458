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
    public static let version: UInt32 = 4
    /// Bytes of sessions in a store block before it is compressed. A lookup decompresses
    /// one block per session it returns, so the block's size is a lookup's cost: 32 KiB
    /// took a key of up to 100 sessions from 3.4 to 1.3 ms (p50) and 16.4 to 6.9 ms (p99)
    /// against 256 KiB, for an index 20% larger (17.0% of the log text instead of 14.1%;
    /// Benchmarks/SERVE.md). Readers take blocks of any size.
    public static let storeBlockTarget = 32 << 10
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

/// Errors about the index (corrupt, missing, busy, of another format): the engine's one
/// error type, under the name the index code has always used.
public typealias IndexError = MaildexError

extension MaildexError {
    /// An index file that fails a check: the file, what is wrong, the byte offset.
    package static func corrupt(_ file: String, _ what: String, offset: UInt64? = nil) -> MaildexError {
        MaildexError(.corrupt, "\(file): index file is corrupt: \(what)" + (offset.map { " (at byte \($0))" } ?? "")
                     + "; run `maildex verify` for a full check, or rebuild the index", path: file, offset: offset)
    }

    /// An index file of a format this maildex does not read: `found` as the file gives
    /// it, `reads` the one this maildex writes.
    package static func unsupportedFormat(_ file: String, _ what: String, found: String, reads: Int) -> MaildexError {
        MaildexError(.unsupportedFormat, "\(file): \(what) format \(found); rebuild the index with maildex index (this maildex reads \(what) format \(reads); remove the directory first)",
                     path: file, formatVersion: Int(found) ?? -1)
    }
}

/// An output file written through a buffer, then fsynced and renamed into place.
package final class AtomicFile {
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

    package init(path: String) throws {
        finalPath = path
        temporaryPath = path + ".tmp"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw MaildexError.io(temporaryPath, errno: errno, "cannot write: \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(1 << 20)
    }

    deinit { if fd >= 0 { close(fd); unlink(temporaryPath) } }

    package func write(_ bytes: some Collection<UInt8>) throws {
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
    package func commit() throws {
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
