#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What tells two paths to one file apart from two files: device and inode.
public struct FileIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    package init(_ st: stat) { device = UInt64(st.st_dev); inode = UInt64(st.st_ino) }
}

/// Which file a path names and which version of it is there: its identity, size and
/// modification time. A file replaced by a rename (the manifest, a rewritten segment)
/// is another version even when its name, size and time agree.
public struct FileVersion: Hashable, Sendable {
    public var file: FileIdentity
    public var size: Int64
    public var modifiedNanoseconds: Int64

    /// The version of what `path` names now, or nil if it cannot be stat'ed.
    public static func of(_ path: String) -> FileVersion? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileVersion(st)
    }

    /// The version of an open file.
    public static func of(descriptor fd: Int32) -> FileVersion? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return FileVersion(st)
    }

    init(_ st: stat) {
        file = FileIdentity(st)
        size = Int64(st.st_size)
        #if canImport(Darwin)
        modifiedNanoseconds = Int64(st.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(st.st_mtimespec.tv_nsec)
        #else
        modifiedNanoseconds = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        #endif
    }
}
