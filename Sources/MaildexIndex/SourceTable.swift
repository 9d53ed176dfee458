#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

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
    /// The server whose log the file is (`index --server NAME`); nil when the run named none.
    public var server: String?
    /// This record continues an earlier one of the same file, which had grown since that
    /// was read (a plain file only): the run read bytes `firstOffset..<size`, and the
    /// digest covers the whole file up to `size`. Stored as bit 30 of the frames field.
    public var continues: Bool
    /// Where this record's reading began: 0, or the size of the file when a run before
    /// indexed it (`continues`).
    public var firstOffset: UInt64 { continues ? size - min(size, plainBytes) : 0 }

    public init(id: UInt32, name: String, path: String, date: CivilDate, size: UInt64, mtime: Int64, sha256: [UInt8],
                plainBytes: UInt64, frames: UInt32, indexedAt: Int64, partial: Bool = false, server: String? = nil,
                continues: Bool = false) {
        self.server = server
        self.id = id; self.name = name; self.path = path; self.date = date; self.size = size; self.mtime = mtime
        self.sha256 = sha256; self.plainBytes = plainBytes; self.frames = frames & Self.framesMask; self.indexedAt = indexedAt
        self.partial = partial; self.continues = continues
    }

    static let framesMask: UInt32 = 0x3FFF_FFFF
    static let partialBit: UInt32 = 1 << 31
    static let continuesBit: UInt32 = 1 << 30

    func encode(into w: inout ByteWriter) {
        w.u32(id); w.i32(date.daysSinceEpoch); w.u64(size); w.i64(mtime); w.raw(sha256.count == 32 ? sha256 : [UInt8](repeating: 0, count: 32))
        w.u64(plainBytes); w.u32(frames & Self.framesMask | (partial ? Self.partialBit : 0) | (continues ? Self.continuesBit : 0)); w.i64(indexedAt)
        w.blob(Array(name.utf8)); w.blob(Array(path.utf8)); w.blob(Array((server ?? "").utf8))
    }

    static func decode(_ r: inout ByteReader) throws -> SourceRecord {
        let id = try r.u32(), date = CivilDate(daysSinceEpoch: try r.i32()), size = try r.u64(), mtime = try r.i64()
        let sha = try r.bytes(32), plain = try r.u64(), frames = try r.u32(), at = try r.i64()
        let name = String(decoding: try r.blob(), as: UTF8.self), path = String(decoding: try r.blob(), as: UTF8.self)
        let server = String(decoding: try r.blob(), as: UTF8.self)
        return SourceRecord(id: id, name: name, path: path, date: date, size: size, mtime: mtime, sha256: sha,
                            plainBytes: plain, frames: frames & framesMask, indexedAt: at, partial: frames & partialBit != 0,
                            server: server.isEmpty ? nil : server, continues: frames & continuesBit != 0)
    }
}

extension SegmentWriter {
    /// The source table: every file this segment's run read, with its digest.
    func writeSources(_ out: inout SegmentSections) throws {
        try out.write(.sources) { p in
            var w = ByteWriter()
            w.u32(UInt32(sources.count))
            for s in sources { s.encode(into: &w) }
            try p.write(w.bytes, to: file)
        }
    }
}

extension SegmentReader {
    public func sources() throws -> [SourceRecord] {
        var r = ByteReader(try wholeSection(.sources))
        let n = try r.u32()
        var out = [SourceRecord]()
        do { for _ in 0..<n { out.append(try SourceRecord.decode(&r)) } } catch {
            throw IndexError.corrupt(file.path, "source table is malformed")
        }
        return out
    }
}
