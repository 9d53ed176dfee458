#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file mapped read-only into memory; unmaps itself when released.
///
/// The one owner of `mmap` in maildex.
///
/// # Safety
/// The mapping reflects the file as it is on disk. If another process truncates
/// the file while it is mapped, reading the pages past the new end raises SIGBUS
/// and kills the process: that is why `maildex index --no-mmap` reads with `read(2)`
/// instead, for a log that is still being written or rotated. Appending to the
/// file is harmless (the mapping keeps the length it was made with).
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw IOError(path: path, offset: nil, message: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw IOError(path: path, offset: nil, message: String(cString: strerror(errno))) }
        size = Int(st.st_size)
        if size == 0 { base = nil; return }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw IOError(path: path, offset: nil, message: "mmap: " + String(cString: strerror(errno)))
        }
        base = p
        madvise(p, size, MADV_SEQUENTIAL)
    }

    deinit { if let base { munmap(base, size) } }

    /// The mapped bytes: valid only while this object lives. A caller that does not keep
    /// the object in a stored property or an argument uses `withBytes`, because Swift may
    /// release a local right after its last use, before the bytes are read.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    /// Calls `body` with the mapped bytes, keeping the mapping alive until it returns.
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try withExtendedLifetime(self) { try body(bytes) }
    }

    /// Tells the kernel the pages of `range` will not be read again soon, so they
    /// leave this process's resident memory (they are re-read from the file if touched).
    public func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound / page) * page
        let end = min(size, range.upperBound)
        if end > start { madvise(base + start, end - start, MADV_DONTNEED) }
    }
}

/// An I/O or format problem with one input file, with the byte offset where known.
public struct IOError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var offset: UInt64?
    public var message: String
    public init(path: String, offset: UInt64?, message: String) { self.path = path; self.offset = offset; self.message = message }
    public var description: String {
        if let offset { return "\(path): at byte \(offset): \(message)" }
        return "\(path): \(message)"
    }
}
