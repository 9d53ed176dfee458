import MaildexSupport
import MaildexParse

/// A stretch of the uncompressed log held in memory: a whole memory-mapped file,
/// or a buffer of decompressed zstd frames. Fragments point into it until their
/// session is written or copied out.
public final class Window: @unchecked Sendable {
    /// The bytes. Valid for the life of this object (and `owner`).
    public let bytes: UnsafeRawBufferPointer
    /// Keeps the memory alive (a mapped file, or a heap buffer).
    package let owner: AnyObject?
    /// Index of the source file in the index's source table.
    public let source: UInt32
    public let date: CivilDate
    /// Offset of `bytes[0]` in the file's uncompressed stream.
    public let streamOffset: UInt64
    /// 1-based line number of the line that starts at `bytes[0]`.
    public let firstLineNumber: UInt64
    /// `bytes[0]` is inside a line the previous window began (a line longer than a
    /// window may grow): the first line continues that line and has its number.
    public let continuesLine: Bool

    public init(bytes: UnsafeRawBufferPointer, owner: AnyObject?, source: UInt32, date: CivilDate,
                streamOffset: UInt64, firstLineNumber: UInt64, continuesLine: Bool = false) {
        self.bytes = bytes; self.owner = owner; self.source = source; self.date = date
        self.streamOffset = streamOffset; self.firstLineNumber = firstLineNumber; self.continuesLine = continuesLine
    }
}

/// Heap memory that frees itself.
package final class OwnedBytes: @unchecked Sendable {
    package let pointer: UnsafeMutableRawPointer
    package let count: Int
    package init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
    }
    deinit { pointer.deallocate() }
    package var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}
