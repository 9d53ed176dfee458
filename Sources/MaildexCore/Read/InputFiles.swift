#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// are taken whatever their name. Problems (missing paths) are returned, not thrown.
    public static func discover(_ paths: [String], defaultDate: CivilDate? = nil) -> (files: [InputFile], errors: [IOError]) {
        var files = [InputFile]()
        var errors = [IOError]()
        func visit(_ path: String, explicit: Bool) {
            var st = stat()
            guard stat(path, &st) == 0 else {
                errors.append(IOError(path: path, offset: nil, message: String(cString: strerror(errno))))
                return
            }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                guard let dir = opendir(path) else {
                    errors.append(IOError(path: path, offset: nil, message: String(cString: strerror(errno))))
                    return
                }
                var names = [String]()
                while let entry = readdir(dir) {
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
                    guard stat(child, &cs) == 0 else { continue }
                    if (cs.st_mode & S_IFMT) == S_IFDIR || isLogName(name) { visit(child, explicit: false) }
                }
                return
            }
            let name = String(path.split(separator: "/").last ?? Substring(path))
            let stamp = FileNameStamp(fileName: name) ?? defaultDate.map { FileNameStamp(date: $0) }
            files.append(InputFile(path: path, name: name, size: UInt64(st.st_size), mtime: Int64(st.st_mtim.tv_sec),
                                   stamp: stamp))
        }
        for p in paths { visit(p, explicit: true) }
        // Order by the stamp in the name; ties by name.
        files.sort { a, b in
            switch (a.stamp, b.stamp) {
            case let (x?, y?): return x != y ? x < y : a.name < b.name
            case (nil, _?): return false
            case (_?, nil): return true
            default: return a.name < b.name
            }
        }
        var seen = Set<String>()
        files = files.filter { seen.insert($0.path).inserted }
        return (files, errors)
    }
}
