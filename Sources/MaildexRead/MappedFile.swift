#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse

/// A file's bytes in memory: mapped read-only (the default), or read into memory of
/// its own with `read(2)`; unmaps or frees itself when released.
///
/// The one owner of `mmap` in maildex.
///
/// # Safety
/// The mapping reflects the file as it is on disk. If another process truncates
/// the file while it is mapped, reading the pages past the new end raises SIGBUS
/// and kills the process: that is why `maildex index --no-mmap` reads with `read(2)`
/// instead (`mapped: false`), for a log that is still being written or rotated.
/// Appending to the file is harmless (the mapping keeps the length it was made with;
/// a read stops at the size the file had when it was opened). A file that shrinks
/// while it is read is held as far as it could be read, and `size` says how far.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    /// Mapped; else read into memory of its own.
    public let mapped: Bool
    /// The file's size when it was opened (more than `size` when it shrank while read).
    public let sizeWhenOpened: Int
    /// Which file was opened (device, inode, size, time), as `fstat` said then.
    public let version: FileVersion?
    private let base: UnsafeMutableRawPointer?

    public init(path: String, mapped: Bool = true) throws {
        self.path = path
        self.mapped = mapped
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MaildexError.io(path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw MaildexError.io(path, errno: errno) }
        sizeWhenOpened = Int(st.st_size)
        version = FileVersion.of(descriptor: fd)
        if sizeWhenOpened == 0 { base = nil; size = 0; return }
        if !mapped {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: sizeWhenOpened, alignment: 16)
            do {
                size = try readFully(fd, into: memory, count: sizeWhenOpened, path: path, offset: 0)
            } catch {
                memory.deallocate()
                throw error
            }
            base = memory
            return
        }
        size = sizeWhenOpened
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw IOError(path: path, offset: nil, message: "mmap: " + String(cString: strerror(errno)))
        }
        base = p
        madvise(p, size, MADV_SEQUENTIAL)
    }

    deinit {
        guard let base else { return }
        if mapped { munmap(base, sizeWhenOpened) } else { base.deallocate() }
    }

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
        guard mapped, let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound / page) * page
        let end = min(size, range.upperBound)
        if end > start { madvise(base + start, end - start, MADV_DONTNEED) }
    }
}

/// Reads `count` bytes from `fd` into `into`, or as many as the file still holds: a read
/// interrupted by a signal is retried, and only the file's end stops it early. Returns
/// the bytes read. A failed read throws an `IOError` naming `path` and the byte, where
/// `offset` is the file position this call started at.
package func readFully(_ fd: Int32, into: UnsafeMutableRawPointer, count: Int, path: String, offset: UInt64) throws -> Int {
    var done = 0
    while done < count {
        let n = read(fd, into + done, count - done)
        if n < 0 && errno == EINTR { continue }
        if n < 0 { throw MaildexError.io(path, offset: offset + UInt64(done), errno: errno) }
        if n == 0 { break }
        done += n
    }
    return done
}
