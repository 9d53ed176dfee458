#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse

/// An input file found on the command line, with what its name says.
public struct InputFile: Sendable, Equatable {
    public var path: String
    /// The last path component.
    public var name: String
    public var size: UInt64
    /// Modification time, seconds since the epoch.
    public var mtime: Int64
    /// From the name, or from `--date`; nil when neither gives one.
    public var stamp: FileNameStamp?

    public static func == (a: InputFile, b: InputFile) -> Bool { a.path == b.path }
}

/// Finds log files under the given paths and orders them by the date and time in
/// their names.
public enum InputFiles {
    /// Names maildex reads from a directory: `*.log`, `*.log.zst`, `*.zst`.
    public static func isLogName(_ name: String) -> Bool {
        name.hasSuffix(".log") || name.hasSuffix(".zst")
    }

    /// Files and directories (searched recursively). Files named on the command line
    /// are taken whatever their name. Problems are returned, not thrown: a path that
    /// cannot be read, a log-named entry of a directory that cannot be (a dangling
    /// symbolic link), a pipe or device where a file should be, a directory listing
    /// cut short.
    ///
    /// A file reached twice (named twice, under two names through a symbolic link, or
    /// inside a directory named with its parent) is taken once, at the first path that
    /// reaches it: its identity is its device and inode, not its path. A directory is
    /// searched once, so a link back to a parent is no loop.
    public static func discover(_ paths: [String], defaultDate: CivilDate? = nil) -> (files: [InputFile], errors: [IOError]) {
        var files = [InputFile]()
        var errors = [IOError]()
        var seenFiles = Set<FileIdentity>(), seenDirectories = Set<FileIdentity>()
        func fail(_ path: String, _ message: String) { errors.append(IOError(path: path, offset: nil, message: message)) }
        func visit(_ path: String, _ st: stat) {
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                guard seenDirectories.insert(FileIdentity(st)).inserted else { return }
                guard let dir = opendir(path) else { return fail(path, String(cString: strerror(errno))) }
                var names = [String]()
                while true {
                    errno = 0
                    guard let entry = readdir(dir) else {
                        if errno != 0 { fail(path, "listing the directory: " + String(cString: strerror(errno)) + "; the files not listed are not indexed") }
                        break
                    }
                    let name = withUnsafePointer(to: entry.pointee.d_name) {
                        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                    }
                    if name == "." || name == ".." { continue }
                    names.append(name)
                }
                closedir(dir)
                for name in names.sorted() {
                    let child = path.hasSuffix("/") ? path + name : path + "/" + name
                    var cs = stat()
                    guard stat(child, &cs) == 0 else {
                        // Only a log's name is worth an error: a dangling link named like one
                        // (an archive not mounted) would otherwise drop a day without a word.
                        if isLogName(name) { fail(child, String(cString: strerror(errno))) }
                        continue
                    }
                    if (cs.st_mode & S_IFMT) == S_IFDIR || isLogName(name) { visit(child, cs) }
                }
            case S_IFREG:
                guard seenFiles.insert(FileIdentity(st)).inserted else { return }
                let name = String(path.split(separator: "/").last ?? Substring(path))
                let stamp = FileNameStamp(fileName: name) ?? defaultDate.map { FileNameStamp(date: $0) }
                files.append(InputFile(path: path, name: name, size: UInt64(st.st_size), mtime: Int64(st.st_mtim.tv_sec),
                                       stamp: stamp))
            default:
                // A pipe has no size to map and no end to hash against a later run; opening a
                // FIFO would wait for a writer.
                fail(path, "not a regular file (a pipe, socket or device): maildex indexes files; save the log to a file first")
            }
        }
        for p in paths {
            var st = stat()
            guard stat(p, &st) == 0 else { fail(p, String(cString: strerror(errno))); continue }
            visit(p, st)
        }
        // Order by the stamp in the name; ties by name.
        files.sort { a, b in
            switch (a.stamp, b.stamp) {
            case let (x?, y?): return x != y ? x < y : a.name < b.name
            case (nil, _?): return false
            case (_?, nil): return true
            default: return a.name < b.name
            }
        }
        return (files, errors)
    }
}

